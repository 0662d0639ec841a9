import { sum } from '../core/math.mjs';
import { greet } from '../core/strings.mjs';

export function main(args, config) {
  const numbers = args.map(Number).filter((n) => !Number.isNaN(n));
  return `${greet(config.greeting, config.name)} sum=${sum(numbers)}`;
}
