import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { directCommand, shellAllowsDirect, shellSignalReport } from '../lib/exec/direct-command.js';

test('plain words run without a shell, split as the shell splits them', () => {
  assert.equal(directCommand('tsc -p tsconfig.json'), { argv: ['tsc', '-p', 'tsconfig.json'] });
  assert.equal(directCommand('  node\tscripts/gen.mjs  --out=dist/x.js,y @scope/pkg%1 a:b+c '), { argv: ['node', 'scripts/gen.mjs', '--out=dist/x.js,y', '@scope/pkg%1', 'a:b+c'] });
  assert.equal(directCommand('./bin/check'), { argv: ['./bin/check'] });
});

test('one trailing stdout redirection is opened for the command, attached or not', () => {
  assert.equal(directCommand('cksum src/1.txt out/0.txt > out/1.txt'), { argv: ['cksum', 'src/1.txt', 'out/0.txt'], stdout: { path: 'out/1.txt', append: false } });
  assert.equal(directCommand('cksum a >out/1.txt'), { argv: ['cksum', 'a'], stdout: { path: 'out/1.txt', append: false } });
  assert.equal(directCommand('date >> log.txt'), { argv: ['date'], stdout: { path: 'log.txt', append: true } });
  assert.equal(directCommand('date >>log.txt'), { argv: ['date'], stdout: { path: 'log.txt', append: true } });
});

test('anything the shell would interpret goes through the shell', () => {
  const shellOnly = [
    '',
    '   ',
    'a | b',
    'a && b',
    'a; b',
    'a\nb',
    'a &',
    'cat "quoted file"',
    "cat 'quoted'",
    'echo $HOME',
    'cat ${X}',
    'cat `which x`',
    'cat $(which x)',
    'ls *.ts',
    'ls src/?.ts',
    'ls [ab].ts',
    'ls {a,b}.ts',
    'cat ~/x',
    'cat a\\ b',
    'cat a # comment',
    'FOO=1 make',
    'make < input',
    'make 2> err.txt',
    'make 2>&1',
    'make > a > b',
    'make > out extra',
    '> out make',
    'make >',
    'make >|out',
    'make >&2',
    '(make)',
    'cat ü.txt',
    'make >> "log"',
  ];
  for (const c of shellOnly) assert.is(directCommand(c), undefined, JSON.stringify(c));
});

test('a reserved word or a builtin is never started as a program of the same name', () => {
  for (const c of ['echo -e x', 'test -f x', '[ -f x ]', 'cd dist', 'exit 1', 'true', 'false', 'export A', 'set -e', 'source x', '. ./env', 'printf x', 'kill 1', 'pwd', 'exec make', 'command -v make', 'time make', 'if', 'wait', 'ulimit -n']) {
    assert.is(directCommand(c), undefined, c);
  }
  // a builtin's name as an argument is just a word
  assert.equal(directCommand('xargs echo'), { argv: ['xargs', 'echo'] });
});

test('only dash, whose exported environment is known, lets commands skip it', () => {
  assert.ok(shellAllowsDirect('/usr/bin/dash'));
  assert.not.ok(shellAllowsDirect('/usr/bin/bash'));
  assert.not.ok(shellAllowsDirect('/bin/zsh'));
  assert.not.ok(shellAllowsDirect('/usr/bin/busybox'));
});

test('a signal ends the command as the shell reports it: 128 + its number, its description, silent for INT and PIPE', () => {
  assert.equal(shellSignalReport('SIGSEGV', 11, false), { code: 139, line: 'Segmentation fault\n' });
  assert.equal(shellSignalReport('SIGABRT', 6, true), { code: 134, line: 'Aborted (core dumped)\n' });
  assert.equal(shellSignalReport('SIGKILL', 9, false), { code: 137, line: 'Killed\n' });
  assert.equal(shellSignalReport('SIGINT', 2, false), { code: 130, line: '' });
  assert.equal(shellSignalReport('SIGPIPE', 13, false), { code: 141, line: '' });
  assert.equal(shellSignalReport(null, 36, false), { code: 164, line: 'Real-time signal 2\n' });
  assert.equal(shellSignalReport(null, 70, false), { code: 198, line: 'Unknown signal 70\n' });
});

test.run();
