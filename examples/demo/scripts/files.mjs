// Shared by the demo scripts: list the files under a folder, root-relative, in byte order.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function listFiles(dir) {
  const found = [];
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.posix.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) found.push(p);
    }
  };
  walk(dir.split(path.sep).join('/').replace(/\/+$/, ''));
  return found.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function writeFile(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}
