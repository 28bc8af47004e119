import type { Random } from './random.ts'

// The text the simulator answers with. Prompts are tokenized by ../shared/prompt.ts, which a
// frontend shares, so both count the same tokens; answers are made of the same kind of tokens.

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
