#include "cq8.h"
#include <math.h>
#include <string.h>

static inline int blocks_of(int inDim) { return (inDim + 31) / 32; }

size_t cq8_weight_bytes(int outDim, int inDim) {
    return (size_t)((outDim + 15) / 16) * (size_t)blocks_of(inDim) * CQ8_BLOCK_BYTES;
}

/// One feature's block of weights (nk values) under one of the two encodings (sym 0: d = (max - min) / 255,
/// m = min; sym 1: d = max |w| / 127, m = -128 d): its codes and the largest |d q + m - w|.
static float encode(const float *row, int nk, float lo, float hi, int sym, float *d, float *m, uint8_t q[32]) {
    float amax = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
    *d = sym ? amax / 127.0f : (hi - lo) / 255.0f;
    *m = sym ? -128.0f * *d : lo;
    float inv = *d > 0 ? 1.0f / *d : 0, err = 0;
    for (int k = 0; k < nk; k++) {
        float c = nearbyintf((row[k] - *m) * inv);
        c = c < 0 ? 0 : c > 255 ? 255 : c;
        q[k] = (uint8_t)c;
        float e = fabsf(fmaf(*d, c, *m) - row[k]);
        err = e > err ? e : err;
    }
    return err;
}

/// Packs one feature's block in the encoding with the smaller largest error: min/max codes, unless the symmetric
/// ones are closer (as on a Q8_0 block, whose levels are multiples of its scale: exact there).
static void pack_feature(const float *row, int nk, uint8_t *blk, int j, float *d, float *m) {
    float lo = row[0], hi = row[0];
    for (int k = 1; k < nk; k++) { lo = row[k] < lo ? row[k] : lo; hi = row[k] > hi ? row[k] : hi; }
    uint8_t qa[32] = {0}, qs[32] = {0};
    float da, ma, ds, ms;
    float ea = encode(row, nk, lo, hi, 0, &da, &ma, qa), es = encode(row, nk, lo, hi, 1, &ds, &ms, qs);
    const uint8_t *q = es < ea ? qs : qa;
    *d = es < ea ? ds : da; *m = es < ea ? ms : ma;
    for (int k = 0; k < nk; k++) blk[(k / 4) * 64 + j * 4 + k % 4] = q[k];
}

static void pack_plain(const float *w, int outDim, int inDim, int panelBegin, int panelEnd, uint8_t *dst) {
    int blocks = blocks_of(inDim);
    for (int p = panelBegin; p < panelEnd; p++) {
        for (int b = 0; b < blocks; b++) {
            uint8_t *blk = dst + ((size_t)p * blocks + b) * CQ8_BLOCK_BYTES;
            float d[16] = {0}, m[16] = {0};
            memset(blk, 0, 512);
            int k0 = 32 * b, nk = inDim - k0 < 32 ? inDim - k0 : 32;
            for (int j = 0; j < 16 && 16 * p + j < outDim; j++)
                pack_feature(w + (size_t)(16 * p + j) * inDim + k0, nk, blk, j, &d[j], &m[j]);
            memcpy(blk + 512, d, 64);
            memcpy(blk + 576, m, 64);
        }
    }
}

/// One (row, block): v = round(x / s) with s = max |x| / 16383, split into h = v >> 7 (floor) and l = v & 127,
/// or (`wide`, for the AVX2 kernel) stored as int16.
static void quantize_block(const float *xb, int nk, int8_t *hl, float *s, float *sv, int wide) {
    float amax = 0;
    for (int k = 0; k < nk; k++) { float a = fabsf(xb[k]); amax = a > amax ? a : amax; }
    float scale = amax / 16383.0f, inv = amax > 0 ? 16383.0f / amax : 0;
    int sum = 0;
    for (int k = 0; k < 32; k++) {
        int v = k < nk ? (int)nearbyintf(xb[k] * inv) : 0;
        v = v < -16383 ? -16383 : v > 16383 ? 16383 : v;
        if (wide) { int16_t v16 = (int16_t)v; memcpy(hl + 2 * k, &v16, 2); }
        else { hl[k] = (int8_t)(v >> 7); hl[32 + k] = (int8_t)(v & 127); }
        sum += v;
    }
    *s = scale; *sv = scale * (float)sum;
}

static void quantize_plain(const float *x, int lda, int rows, int inDim, int8_t *hl, float *s, float *sv, int wide) {
    int blocks = blocks_of(inDim), rows4 = (rows + 3) / 4 * 4;
    for (int r = 0; r < rows4; r++)
        for (int b = 0; b < blocks; b++) {
            size_t i = (size_t)r * blocks + b;
            int k0 = 32 * b, nk = r < rows ? (inDim - k0 < 32 ? inDim - k0 : 32) : 0;
            quantize_block(x + (size_t)r * lda + k0, nk, hl + i * CQ8_ROW_BLOCK_BYTES, s + i, sv + i, wide);
        }
}

/// Adds one (row, feature) block's contribution, dot = sum q v: acc + s * (d * dot), then + m * sv.
static inline float block_term(float acc, int32_t dot, float d, float m, float s, float sv) {
    return fmaf(m, sv, fmaf((float)dot * d, s, acc));
}

/// Writes a [4][16] tile (rows past `rows` and features past outDim dropped), the way `linear_vnni` does.
static void store(float *out, int ldo, int rows, int outDim, int r0, int n0, const float *tile /* [4][16] */,
                  float beta) {
    for (int r = 0; r < 4 && r0 + r < rows; r++)
        for (int j = 0; j < 16 && n0 + j < outDim; j++) {
            float *o = out + (size_t)(r0 + r) * ldo + n0 + j;
            *o = beta == 0 ? tile[r * 16 + j] : fmaf(beta, *o, tile[r * 16 + j]);
        }
}

static void linear_plain(const uint8_t *w, int outDim, int inDim, int panelBegin, int panelEnd, const int8_t *hl,
                         const float *s, const float *sv, int rows, float *out, int ldo, float beta) {
    int blocks = blocks_of(inDim);
    for (int pn = panelBegin; pn < panelEnd; pn++)
        for (int r0 = 0; r0 < rows; r0 += 4) {
            float tile[64] = {0};
            for (int b = 0; b < blocks; b++) {
                const uint8_t *blk = w + ((size_t)pn * blocks + b) * CQ8_BLOCK_BYTES;
                const float *d = (const float *)(blk + 512), *m = (const float *)(blk + 576);
                for (int r = 0; r < 4; r++) {
                    size_t i = (size_t)(r0 + r) * blocks + b;
                    const int8_t *h = hl + i * CQ8_ROW_BLOCK_BYTES, *l = h + 32;
                    for (int j = 0; j < 16; j++) {
                        int32_t dh = 0, dl = 0;
                        for (int k = 0; k < 32; k++) {
                            int32_t q = blk[(k / 4) * 64 + j * 4 + k % 4];
                            dh += q * h[k]; dl += q * l[k];
                        }
                        tile[r * 16 + j] = block_term(tile[r * 16 + j], dh * 128 + dl, d[j], m[j], s[i], sv[i]);
                    }
                }
            }
            store(out, ldo, rows, outDim, r0, 16 * pn, tile, beta);
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/// G panels (G <= 2) x 4 rows. Register plan (32 zmm): 2 x 4 x G int32 accumulators (sum q h and sum q l of
/// the current block, reset per block), 4 x G fp32 accumulators, G weight vectors and 2 broadcast activation
/// words per quad: 16 vpdpbusd per 2 weight loads and 8 broadcasts. Per block the two sums become
/// 128 dh + dl, then fp32, and are scaled in (`block_term`'s operations, vectorized over the 16 features).
VNNI static inline __attribute__((always_inline))
void tile_vnni(const uint8_t *w, size_t panelStride, int blocks, const int8_t *hl, const float *s, const float *sv,
               int G, __m512 acc[4][2]) {
    for (int r = 0; r < 4; r++)
        for (int g = 0; g < 2; g++) acc[r][g] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = w + (size_t)b * CQ8_BLOCK_BYTES;
        for (int g = 0; g < G; g++)   // the block 8 ahead (the hardware prefetcher alone left loads waiting)
            for (int line = 0; line < CQ8_BLOCK_BYTES / 64; line++)
                _mm_prefetch((const char *)(blk + g * panelStride + 8 * CQ8_BLOCK_BYTES + 64 * line), _MM_HINT_T0);
        __m512i dh[4][2], dl[4][2];
        for (int r = 0; r < 4; r++)
            for (int g = 0; g < G; g++) { dh[r][g] = _mm512_setzero_si512(); dl[r][g] = _mm512_setzero_si512(); }
        for (int t = 0; t < 8; t++) {
            __m512i wv[2];
            for (int g = 0; g < G; g++) wv[g] = _mm512_loadu_si512(blk + g * panelStride + t * 64);
            for (int r = 0; r < 4; r++) {
                const int8_t *h = hl + ((size_t)r * blocks + b) * CQ8_ROW_BLOCK_BYTES + 4 * t;
                int32_t hw, lw;
                memcpy(&hw, h, 4); memcpy(&lw, h + 32, 4);
                __m512i hv = _mm512_set1_epi32(hw), lv = _mm512_set1_epi32(lw);
                for (int g = 0; g < G; g++) {
                    dh[r][g] = _mm512_dpbusd_epi32(dh[r][g], wv[g], hv);
                    dl[r][g] = _mm512_dpbusd_epi32(dl[r][g], wv[g], lv);
                }
            }
        }
        for (int g = 0; g < G; g++) {
            __m512 d = _mm512_loadu_ps((const float *)(blk + g * panelStride + 512));
            __m512 m = _mm512_loadu_ps((const float *)(blk + g * panelStride + 576));
            for (int r = 0; r < 4; r++) {
                size_t i = (size_t)r * blocks + b;
                __m512i dot = _mm512_add_epi32(_mm512_slli_epi32(dh[r][g], 7), dl[r][g]);
                __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), d);
                acc[r][g] = _mm512_fmadd_ps(f, _mm512_set1_ps(s[i]), acc[r][g]);
                acc[r][g] = _mm512_fmadd_ps(m, _mm512_set1_ps(sv[i]), acc[r][g]);
            }
        }
    }
}

VNNI static void linear_vnni(const uint8_t *w, int outDim, int inDim, int panelBegin, int panelEnd,
                             const int8_t *hl, const float *s, const float *sv, int rows, float *out, int ldo,
                             float beta) {
    int blocks = blocks_of(inDim);
    size_t panelStride = (size_t)blocks * CQ8_BLOCK_BYTES;
    for (int pn = panelBegin; pn < panelEnd; pn += 2) {
        int G = panelEnd - pn < 2 ? panelEnd - pn : 2;
        const uint8_t *wp = w + (size_t)pn * panelStride;
        for (int r0 = 0; r0 < rows; r0 += 4) {
            size_t i0 = (size_t)r0 * blocks;
            __m512 acc[4][2];
            if (G == 2) tile_vnni(wp, panelStride, blocks, hl + i0 * CQ8_ROW_BLOCK_BYTES, s + i0, sv + i0, 2, acc);
            else tile_vnni(wp, panelStride, blocks, hl + i0 * CQ8_ROW_BLOCK_BYTES, s + i0, sv + i0, 1, acc);
            for (int g = 0; g < G; g++) {
                int n0 = 16 * (pn + g), nb = outDim - n0 < 16 ? outDim - n0 : 16;
                __mmask16 mask = (__mmask16)((1u << nb) - 1);
                for (int r = 0; r < 4 && r0 + r < rows; r++) {
                    float *o = out + (size_t)(r0 + r) * ldo + n0;
                    __m512 v = beta == 0 ? acc[r][g]
                                         : _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, o), acc[r][g]);
                    _mm512_mask_storeu_ps(o, mask, v);
                }
            }
        }
    }
}

/// `quantize_plain`, 16 values per vector where inDim is a multiple of 32 (nearbyintf and vcvtps2dq both round
/// to nearest even).
VNNI static void quantize_vnni(const float *x, int lda, int rows, int inDim, int8_t *hl, float *s, float *sv) {
    int blocks = blocks_of(inDim), rows4 = (rows + 3) / 4 * 4;
    if (inDim % 32 != 0) { quantize_plain(x, lda, rows, inDim, hl, s, sv, 0); return; }
    const __m512i lo = _mm512_set1_epi32(-16383), hi = _mm512_set1_epi32(16383), low7 = _mm512_set1_epi32(127);
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < blocks; b++) {
            size_t i = (size_t)r * blocks + b;
            const float *xb = x + (size_t)r * lda + 32 * b;
            __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
            float scale = amax / 16383.0f, inv = amax > 0 ? 16383.0f / amax : 0;
            __m512 vi = _mm512_set1_ps(inv);
            __m512i v0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vi)), v1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vi));
            v0 = _mm512_min_epi32(_mm512_max_epi32(v0, lo), hi); v1 = _mm512_min_epi32(_mm512_max_epi32(v1, lo), hi);
            int8_t *h = hl + i * CQ8_ROW_BLOCK_BYTES;
            _mm_storeu_si128((__m128i *)h, _mm512_cvtepi32_epi8(_mm512_srai_epi32(v0, 7)));
            _mm_storeu_si128((__m128i *)(h + 16), _mm512_cvtepi32_epi8(_mm512_srai_epi32(v1, 7)));
            _mm_storeu_si128((__m128i *)(h + 32), _mm512_cvtepi32_epi8(_mm512_and_si512(v0, low7)));
            _mm_storeu_si128((__m128i *)(h + 48), _mm512_cvtepi32_epi8(_mm512_and_si512(v1, low7)));
            s[i] = scale;
            sv[i] = scale * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(v0, v1));
        }
    for (int r = rows; r < rows4; r++)   // padding rows: zeros
        for (int b = 0; b < blocks; b++) quantize_block(x, 0, hl + ((size_t)r * blocks + b) * CQ8_ROW_BLOCK_BYTES,
                                                       s + (size_t)r * blocks + b, sv + (size_t)r * blocks + b, 0);
}

#define AVX2 __attribute__((target("avx2,fma")))

/// Half a panel (features j0..<j0 + 8, j0 0 or 8) x 4 rows over all blocks, into tile[r][j0 + j]. The weights
/// are widened to int16 (vpmovzxbw) and multiplied by the int16 activations with vpmaddwd, which adds adjacent
/// pairs: no overflow (|q v| <= 255 * 16383, 32 of them per block). Register plan (16 ymm): 4 x 2 int32
/// accumulators (per row: features j0..j0+3, then j0+4..j0+7, two lanes each: inputs 4t, 4t+1 and 4t+2, 4t+3),
/// reset per block; 4 fp32 accumulators; 2 widened weight vectors and a broadcast of a row's 4 activations per
/// quad. Per block the lane pairs are added (vphaddd, then vpermq to feature order) and scaled in with
/// `block_term`'s operations.
AVX2 static void half_tile_avx2(const uint8_t *w, int blocks, int j0, const int16_t *v, const float *s,
                                const float *sv, float tile[64]) {
    __m256 acc[4];
    for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *blk = w + (size_t)b * CQ8_BLOCK_BYTES;
        for (int line = 0; line < CQ8_BLOCK_BYTES / 64; line++)   // 8 blocks ahead, as `tile_vnni`
            _mm_prefetch((const char *)(blk + 8 * CQ8_BLOCK_BYTES + 64 * line), _MM_HINT_T0);
        __m256i a[4][2];
        for (int r = 0; r < 4; r++) a[r][0] = a[r][1] = _mm256_setzero_si256();
        for (int t = 0; t < 8; t++) {
            const uint8_t *q = blk + t * 64 + 4 * j0;
            __m256i w0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)q));
            __m256i w1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
            for (int r = 0; r < 4; r++) {
                long long x4;
                memcpy(&x4, v + ((size_t)r * blocks + b) * 32 + 4 * t, 8);
                __m256i xv = _mm256_set1_epi64x(x4);
                a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(w0, xv));
                a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(w1, xv));
            }
        }
        __m256 d = _mm256_loadu_ps((const float *)(blk + 512) + j0), m = _mm256_loadu_ps((const float *)(blk + 576) + j0);
        for (int r = 0; r < 4; r++) {
            size_t i = (size_t)r * blocks + b;
            // hadd: features j0, j0+1, j0+4, j0+5 | j0+2, j0+3, j0+6, j0+7; vpermq puts them in order.
            __m256i dot = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a[r][0], a[r][1]), _MM_SHUFFLE(3, 1, 2, 0));
            __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), d);
            acc[r] = _mm256_fmadd_ps(f, _mm256_set1_ps(s[i]), acc[r]);
            acc[r] = _mm256_fmadd_ps(m, _mm256_set1_ps(sv[i]), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) _mm256_storeu_ps(tile + r * 16 + j0, acc[r]);
}

/// Largest and smallest of 8 lanes (exact: max and min do not round).
AVX2 static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
AVX2 static inline float hmin8(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)));
}

/// `pack_feature` with a feature's 32 values in four vectors (`encode`'s operations, so the same bytes).
AVX2 static void pack_feature_avx2(const float *row, uint8_t *blk, int j, float *d, float *m) {
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255), sign = _mm256_set1_ps(-0.0f);
    __m256 x[4];
    for (int h = 0; h < 4; h++) x[h] = _mm256_loadu_ps(row + 8 * h);
    float lo = hmin8(_mm256_min_ps(_mm256_min_ps(x[0], x[1]), _mm256_min_ps(x[2], x[3])));
    float hi = hmax8(_mm256_max_ps(_mm256_max_ps(x[0], x[1]), _mm256_max_ps(x[2], x[3])));
    float amax = fabsf(lo) > fabsf(hi) ? fabsf(lo) : fabsf(hi);
    int32_t codes[2][32];
    float dd[2], mm[2], err[2];
    for (int sym = 0; sym < 2; sym++) {
        dd[sym] = sym ? amax / 127.0f : (hi - lo) / 255.0f;
        mm[sym] = sym ? -128.0f * dd[sym] : lo;
        __m256 vm = _mm256_set1_ps(mm[sym]), vd = _mm256_set1_ps(dd[sym]);
        __m256 vi = _mm256_set1_ps(dd[sym] > 0 ? 1.0f / dd[sym] : 0), e = zero;
        for (int h = 0; h < 4; h++) {
            __m256 c = _mm256_round_ps(_mm256_mul_ps(_mm256_sub_ps(x[h], vm), vi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            c = _mm256_min_ps(_mm256_max_ps(c, zero), top);
            e = _mm256_max_ps(e, _mm256_andnot_ps(sign, _mm256_sub_ps(_mm256_fmadd_ps(vd, c, vm), x[h])));
            _mm256_storeu_si256((__m256i *)(codes[sym] + 8 * h), _mm256_cvtps_epi32(c));
        }
        err[sym] = hmax8(e);
    }
    int sym = err[1] < err[0];
    *d = dd[sym]; *m = mm[sym];
    for (int k = 0; k < 32; k++) blk[(k / 4) * 64 + j * 4 + k % 4] = (uint8_t)codes[sym][k];
}

/// `pack_plain` with full panels and blocks through `pack_feature_avx2`, the rest through `pack_plain`. Every
/// vector kernel packs here (a CPU with AVX512-VNNI has AVX2): the bytes do not depend on the kernel.
AVX2 static void pack_avx2(const float *w, int outDim, int inDim, int panelBegin, int panelEnd, uint8_t *dst) {
    int blocks = blocks_of(inDim);
    if (inDim % 32 != 0) { pack_plain(w, outDim, inDim, panelBegin, panelEnd, dst); return; }
    for (int p = panelBegin; p < panelEnd; p++) {
        if (16 * p + 16 > outDim) { pack_plain(w, outDim, inDim, p, p + 1, dst); continue; }
        for (int b = 0; b < blocks; b++) {
            uint8_t *blk = dst + ((size_t)p * blocks + b) * CQ8_BLOCK_BYTES;
            float *d = (float *)(blk + 512), *m = (float *)(blk + 576);
            for (int j = 0; j < 16; j++) pack_feature_avx2(w + (size_t)(16 * p + j) * inDim + 32 * b, blk, j, &d[j], &m[j]);
        }
    }
}

AVX2 static void linear_avx2(const uint8_t *w, int outDim, int inDim, int panelBegin, int panelEnd,
                             const int8_t *hl, const float *s, const float *sv, int rows, float *out, int ldo,
                             float beta) {
    int blocks = blocks_of(inDim);
    const int16_t *v = (const int16_t *)hl;
    for (int pn = panelBegin; pn < panelEnd; pn++) {
        const uint8_t *wp = w + (size_t)pn * blocks * CQ8_BLOCK_BYTES;
        for (int r0 = 0; r0 < rows; r0 += 4) {
            size_t i0 = (size_t)r0 * blocks;
            float tile[64];
            half_tile_avx2(wp, blocks, 0, v + i0 * 32, s + i0, sv + i0, tile);
            if (16 * pn + 8 < outDim) half_tile_avx2(wp, blocks, 8, v + i0 * 32, s + i0, sv + i0, tile);
            store(out, ldo, rows, outDim, r0, 16 * pn, tile, beta);
        }
    }
}
#endif

void cq8_pack_weights(const float *w, int outDim, int inDim, int panelBegin, int panelEnd, uint8_t *dst, int kernel) {
#if defined(__x86_64__)
    if (kernel != CQ8_PLAIN) { pack_avx2(w, outDim, inDim, panelBegin, panelEnd, dst); return; }
#endif
    pack_plain(w, outDim, inDim, panelBegin, panelEnd, dst);
}

void cq8_quantize_rows(const float *x, int lda, int rows, int inDim, int8_t *hl, float *s, float *sv, int kernel) {
#if defined(__x86_64__)
    if (kernel == CQ8_VNNI) { quantize_vnni(x, lda, rows, inDim, hl, s, sv); return; }
#endif
    quantize_plain(x, lda, rows, inDim, hl, s, sv, kernel == CQ8_AVX2);
}

void cq8_linear(const uint8_t *w, int outDim, int inDim, int panelBegin, int panelEnd, const int8_t *hl,
                const float *s, const float *sv, int rows, float *out, int ldo, float beta, int kernel) {
#if defined(__x86_64__)
    if (kernel == CQ8_VNNI) { linear_vnni(w, outDim, inDim, panelBegin, panelEnd, hl, s, sv, rows, out, ldo, beta); return; }
    if (kernel == CQ8_AVX2) { linear_avx2(w, outDim, inDim, panelBegin, panelEnd, hl, s, sv, rows, out, ldo, beta); return; }
#endif
    linear_plain(w, outDim, inDim, panelBegin, panelEnd, hl, s, sv, rows, out, ldo, beta);
}
