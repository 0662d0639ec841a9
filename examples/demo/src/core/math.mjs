export function add(a, b) {
  return a + b;
}

export function sum(values) {
  return values.reduce(add, 0);
}
