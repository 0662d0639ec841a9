/**
 * What a config that says nothing gets. Its own module: the cache needs these without loading
 * the spec's normaliser, which a build from the compiled-graph cache never runs.
 */
export const CONFIG_DEFAULTS = {
  phases: ['phases/*.yaml'],
  templates: ['templates/*.yaml'],
  shell: '/bin/sh',
  cacheDir: 'cache',
  remote: { read: true, write: true, timeout: 2000 },
} as const;
