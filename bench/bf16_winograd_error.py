#!/usr/bin/python3
"""bf16_winograd_error.py — how much error bf16 adds to each way of computing a 3x3 convolution.

The question behind it (issue 21): bf16 has twice fp32's arithmetic on AVX512_BF16, but netrun's
fp32 3x3 passes are Winograd, which does fewer multiplies. A bf16 pass beats them only if it is a
Winograd too, with the transformed tiles rounded to bf16 (8-bit mantissa) before the element-wise
products; the transforms' large coefficients then amplify that rounding. This measures it:
for random inputs and weights (N(0,1), C input channels summed), each algorithm below computes
the output tiles with its transforms in fp32, the products' operands rounded to bf16 (round to
nearest even, as vcvtne2ps2bf16) where the algorithm is bf16, the sums in fp32; the error is
against the exact (float64) direct convolution, relative to its RMS output and, per output, to
sum |x||w| (the scale of tests/test_conv_bf16.c's bound).

    /usr/bin/python3 bench/bf16_winograd_error.py [--channels 64] [--tiles 2000] [--seed 1]

Multiplies per output (a 3x3 kernel): direct 9, 1D F(4,3) along rows 4.5 (netrun's fp32 path),
2D F(2x2,3x3) 4, 2D F(4x4,3x3) 2.25.
"""
import argparse
import numpy as np

def bf16(a):
    """a (float32) rounded to the nearest bf16, ties to even, returned as float32"""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)

# Lavin & Gray's matrices: F(2,3) (points 0, 1, -1) and F(4,3) (points 0, 1, -1, 2, -2)
BT2 = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
G2 = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
AT2 = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)
BT4 = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float32)
G4 = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float32)
AT4 = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], np.float32)

def direct(d, g, m, rnd):
    """d (T, C, m+2, m+2), g (C, 3, 3) -> (T, m, m); operands rounded by rnd"""
    d, g = rnd(d), rnd(g)
    out = np.zeros((d.shape[0], m, m), np.float32)
    for i in range(3):
        for j in range(3):
            out += np.einsum('tcij,c->tij', d[:, :, i:i + m, j:j + m], g[:, i, j]).astype(np.float32)
    return out

def wino2d(d, g, BT, G, AT, rnd):
    """2D F(m x m, 3x3): Y = A^T [sum_c (G g G^T) . (B^T d B)] A"""
    V = rnd(np.einsum('ai,tcij,bj->tcab', BT, d, BT).astype(np.float32))
    U = rnd(np.einsum('ai,cij,bj->cab', G, g, G).astype(np.float32))
    M = np.einsum('tcab,cab->tab', V, U).astype(np.float32)
    return np.einsum('ia,tab,jb->tij', AT, M, AT).astype(np.float32)

def wino1d(d, g, rnd):
    """netrun's row-wise F(4,3): rows transformed (B^T along the rows), each of the 6 rows a
    direct 1x3 convolution with (G g) along the columns, then A^T back; outputs 4 x 4"""
    V = rnd(np.einsum('ai,tcij->tcaj', BT4, d).astype(np.float32))        # (T, C, 6, 6)
    U = rnd(np.einsum('ai,cij->caj', G4, g).astype(np.float32))           # (C, 6, 3)
    M = np.zeros((d.shape[0], 6, 4), np.float32)
    for j in range(3):
        M += np.einsum('tcaj,ca->taj', V[:, :, :, j:j + 4], U[:, :, j]).astype(np.float32)
    return np.einsum('ia,taj->tij', AT4, M).astype(np.float32)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--channels', type=int, default=64)
    ap.add_argument('--tiles', type=int, default=2000)
    ap.add_argument('--seed', type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    d = rng.standard_normal((a.tiles, a.channels, 6, 6)).astype(np.float32)
    g = rng.standard_normal((a.channels, 3, 3)).astype(np.float32)
    d64, g64 = d.astype(np.float64), g.astype(np.float64)
    exact = np.zeros((a.tiles, 4, 4))
    scale = np.zeros((a.tiles, 4, 4))
    for i in range(3):
        for j in range(3):
            exact += np.einsum('tcij,c->tij', d64[:, :, i:i + 4, j:j + 4], g64[:, i, j])
            scale += np.einsum('tcij,c->tij', np.abs(d64[:, :, i:i + 4, j:j + 4]), np.abs(g64[:, i, j]))
    f32 = lambda x: x
    rows = [
        ('direct', 9.0, 'f32', lambda r: direct(d, g, 4, r)),
        ("1D F(4,3) (netrun's fp32)", 4.5, 'f32', lambda r: wino1d(d, g, r)),
        ('2D F(2x2,3x3)', 4.0, 'f32', lambda r: np.concatenate([np.concatenate(
            [wino2d(d[:, :, y:y + 4, x:x + 4], g, BT2, G2, AT2, r) for x in (0, 2)], axis=2) for y in (0, 2)], axis=1)),
        ('2D F(4x4,3x3)', 2.25, 'f32', lambda r: wino2d(d, g, BT4, G4, AT4, r)),
    ]
    rms = np.sqrt(np.mean(exact ** 2))
    print(f'{a.tiles} tiles of 4x4 outputs, {a.channels} channels, N(0,1) inputs and weights; '
          f'error against float64 direct')
    print(f"| algorithm | multiplies per output | precision | RMS error / RMS output | "
          f"max |error| / sum|x||w| | fp32 multiplies per output at bf16's 2x |")
    print('|---|---|---|---|---|---|')
    for name, mults, _, fn in rows:
        for prec, rnd in (('f32', f32), ('bf16', bf16)):
            err = fn(rnd).astype(np.float64) - exact
            eq = mults / 2 if prec == 'bf16' else mults
            print(f'| {name} | {mults:g} | {prec} | {np.sqrt(np.mean(err ** 2)) / rms:.2e} | '
                  f'{np.max(np.abs(err) / scale):.2e} | {eq:g} |')

if __name__ == '__main__':
    main()
