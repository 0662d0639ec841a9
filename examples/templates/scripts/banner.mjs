const { greet } = await import('../packages/greet/dist/index.js');
const { shout } = await import('../packages/shout/dist/index.js');
console.log(shout(greet('templates')));
