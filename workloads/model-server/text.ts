import type { Random } from './random.ts'

/**
 * Tokenization for the simulator. There is no real tokenizer: every run of letters or digits,
 * and every other non-space character, is one token. Real BPE tokenizers split long words
 * further, so real counts run a little higher; the simulator only needs tokens that grow with
 * the text, agree with the text it generates, and repeat for repeated text (the prefix cache
 * compares them).
 */
export function tokenize(text: string): string[] {
  return text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []
}

export function countTokens(text: string): number {
  return tokenize(text).length
}

const vocabulary = [
  'the',
  'model',
  'serves',
  'tokens',
  'across',
  'nodes',
  'with',
  'tensor',
  'parallel',
  'ranks',
  'and',
  'a',
  'cache',
  'of',
  'keys',
  'values',
  'per',
  'layer',
  'while',
  'requests',
  'wait',
  'in',
  'queue',
  'for',
  'their',
  'turn',
  'on',
  'each',
  'GPU',
  'batch',
  'decode',
  'step',
]

/** `count` words picked from a small vocabulary. */
export function randomTokens(count: number, random: Random): string[] {
  return Array.from({ length: count }, () => vocabulary[Math.floor(random() * vocabulary.length)]!)
}

/**
 * The text of one token as it is sent: words get a leading space, as a completion continues its
 * prompt, punctuation does not; `first` drops the space where an answer starts fresh (chat).
 */
export function tokenText(token: string, first = false): string {
  return first || !/^[\p{L}\p{N}_]/u.test(token) ? token : ' ' + token
}

/** The text of a whole answer: the concatenation of what streaming would have sent. */
export function detokenize(tokens: readonly string[], leadingSpace: boolean): string {
  return tokens.map((token, i) => tokenText(token, i === 0 && !leadingSpace)).join('')
}
