import { describe, expect, it } from 'vitest'
import { quantityValue } from '../../scripts/lib/quantity.ts'

describe('quantityValue', () => {
  it('reads cores, bytes in binary and decimal units, and counts', () => {
    expect(quantityValue('100m')).toBeCloseTo(0.1)
    expect(quantityValue('2')).toBe(2)
    expect(quantityValue('1.5')).toBe(1.5)
    expect(quantityValue('128Mi')).toBe(128 * 2 ** 20)
    expect(quantityValue('2Gi')).toBe(2 * 2 ** 30)
    expect(quantityValue('1G')).toBe(1e9)
    expect(quantityValue(4)).toBe(4)
  })

  it('refuses what is not a quantity, naming it', () => {
    expect(() => quantityValue('lots')).toThrow("'lots' is not a resource quantity")
    expect(() => quantityValue('5Xi')).toThrow(/5Xi/)
  })
})
