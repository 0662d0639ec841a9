export function greet(greeting, name) {
  return `${greeting}, ${name}!`;
}

export function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}
