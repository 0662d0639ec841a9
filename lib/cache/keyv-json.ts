/**
 * Keyv's own text format (@keyv/serialize), written and read by V8's JSON.
 *
 * Keyv's serializer walks a value in JavaScript to escape strings that begin with `:` (it
 * writes `::x` for `:x`, and `:base64:…` for a Buffer), and its deserializer undoes that with a
 * JSON.parse reviver called for every value. A cache entry (plain objects, strings and numbers)
 * has no such string, and then the format is exactly JSON.stringify's: at 2,000 entries in a fresh
 * process, Keyv's pair took ~27 ms to write and ~19 ms to read, JSON's ~9 and ~5.
 *
 * So the fast path is taken only when the text shows no string value that begins with `:` (and
 * no Buffer), and anything else goes through Keyv's functions: for values made of objects,
 * arrays, strings, numbers, booleans and null (every record uet stores), the bytes are Keyv's,
 * and what either wrote reads the same through the other (test/keyv-json.test.ts). (A function
 * inside an array is where the two still differ: Keyv drops it, JSON writes null.)
 */
import { defaultDeserialize, defaultSerialize } from '@keyv/serialize';

/**
 * In JSON text a string value (or array element) that begins with `:` appears as `:":`, `[":`
 * or `,":` (after a key, at the start of an array, after a comma), or at the very start; inside
 * a string a quote is always escaped (`\"`), so none of these can occur there. A key that
 * begins with `:` matches too (`,":k"`), which only sends the text the slow way.
 */
const COLON_STRING = /(?:^|[:[,])":/;

/**
 * How JSON.stringify writes a Buffer (Keyv writes `":base64:…"`); an object that merely looks
 * like one only takes the slow way.
 */
const BUFFER_JSON = '{"type":"Buffer","data":[';

/** Keyv's serialisation of `data` (its `{ value, expires }` record) */
export function serializeKeyvJson(data: unknown): string {
  const text = JSON.stringify(data);
  // undefined (JSON.stringify's answer for undefined alone) is Keyv's "null"
  return typeof text !== 'string' || COLON_STRING.test(text) || text.includes(BUFFER_JSON) ? defaultSerialize(data as never) : text;
}

/** what Keyv's deserialiser makes of `text` */
export function deserializeKeyvJson<T>(text: string): T {
  return (COLON_STRING.test(text) ? defaultDeserialize(text) : JSON.parse(text)) as T;
}
