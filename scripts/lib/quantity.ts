/**
 * A Kubernetes resource quantity ("100m", "128Mi", "2Gi", "4", "1.5") as a number of units:
 * cores, bytes or a count. Exponent forms ("1e3") are rare in manifests and not read.
 */
export function quantityValue(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity.trim())
  if (!match) throw new Error(`'${quantity}' is not a resource quantity this lab reads (e.g. 100m, 128Mi, 2Gi, 4)`)
  return Number(match[1]) * SUFFIXES[match[2] ?? '']!
}

const SUFFIXES: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
}
