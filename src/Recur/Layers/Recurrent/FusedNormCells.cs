using System.Runtime.CompilerServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// float32 kernels of the regularised and normalised time loop: row layer norm, the layer-normalised LSTM step and
/// zoneout, each held to its generic reference (<see cref="RowLayerNorm{T}"/>, <see cref="LstmCell"/>'s
/// <c>…LayerNormReference</c>, <see cref="ZoneoutKernel{T}"/>).
/// </summary>
/// <remarks>
/// Row reductions (mean, variance, the backward's two sums) keep one vector accumulator per sum over the row's full
/// vectors, reduce its lanes with <see cref="IFloatVector{TSelf}.Sum"/> (a fixed order) and then add the scalar tail
/// in order. Every row is reduced on its own, so results depend only on the row length and the instruction set,
/// never on which rows a call covers (the time loop splits the batch across threads).
/// </remarks>
internal static unsafe partial class FusedCells
{
    // ---- row layer norm ----

    /// <summary>
    /// As <see cref="RowLayerNorm{T}.ForwardReference"/>, float32, rows [r0, r0 + rows): x, y, normalized [R, N]
    /// (x and y may be the same span), rstd [R]; gain, bias [N]; addBias empty or [N].
    /// </summary>
    internal static void LayerNormForward(GemmIsa isa, int r0, int rows, int n,
        ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, ReadOnlySpan<float> addBias,
        Span<float> y, Span<float> normalized, Span<float> rstd)
    {
        long end = r0 + rows;
        Need(x.Length, end * n, "x"); Need(gain.Length, n, "gain"); Need(bias.Length, n, "bias");
        if (!addBias.IsEmpty) Need(addBias.Length, n, "addBias");
        Need(y.Length, end * n, "y"); Need(normalized.Length, end * n, "normalized"); Need(rstd.Length, end, "rstd");
        fixed (float* px = x, pg = gain, pb = bias, pab = addBias, py = y, pn = normalized, pr = rstd)
        {
            float* ab = addBias.IsEmpty ? null : pab;
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: LayerNormForward<Float512>(r0, rows, n, px, pg, pb, ab, py, pn, pr); break;
                case GemmIsa.Avx2: LayerNormForward<Float256>(r0, rows, n, px, pg, pb, ab, py, pn, pr); break;
                default: LayerNormForward<FloatPortable>(r0, rows, n, px, pg, pb, ab, py, pn, pr); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LayerNormForward<TV>(int r0, int rows, int n, float* x, float* gain, float* bias, float* addBias,
        float* y, float* normalized, float* rstd) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int r = r0; r < r0 + rows; r++)
        {
            float* xr = x + (nint)r * n, yr = y + (nint)r * n, nr = normalized + (nint)r * n;
            float mean = RowSum<TV>(xr, n) / n;
            float inv = 1f / MathF.Sqrt(RowSquaredDeviation<TV>(xr, n, mean) / n + RowLayerNorm<float>.Epsilon);
            rstd[r] = inv;
            TV meanV = TV.Broadcast(mean), invV = TV.Broadcast(inv);
            int j = 0;
            for (; j + w <= n; j += w)
            {
                // x̂ = (x − μ)·r,  y = γ ⊙ x̂ + β (+ β₂)
                TV xh = TV.Multiply(TV.Subtract(TV.Load(xr + j), meanV), invV);
                TV.Store(xh, nr + j);
                TV v = TV.FusedMultiplyAdd(TV.Load(gain + j), xh, TV.Load(bias + j));
                TV.Store(addBias == null ? v : TV.Add(v, TV.Load(addBias + j)), yr + j);
            }
            for (; j < n; j++)
            {
                float xh = (xr[j] - mean) * inv;
                nr[j] = xh;
                float v = MathF.FusedMultiplyAdd(gain[j], xh, bias[j]);
                yr[j] = addBias == null ? v : v + addBias[j];
            }
        }
    }

    /// <summary>
    /// As <see cref="RowLayerNorm{T}.BackwardReference"/>, float32, rows [r0, r0 + rows): dy, normalized, dx [R, N]
    /// (dx may be the same span as dy), rstd [R]; gain [N]; adds into dGain, dBias [N], row after row in order.
    /// </summary>
    internal static void LayerNormBackward(GemmIsa isa, int r0, int rows, int n,
        ReadOnlySpan<float> dy, ReadOnlySpan<float> normalized, ReadOnlySpan<float> rstd, ReadOnlySpan<float> gain,
        Span<float> dx, Span<float> dGain, Span<float> dBias)
    {
        long end = r0 + rows;
        Need(dy.Length, end * n, "dy"); Need(normalized.Length, end * n, "normalized"); Need(rstd.Length, end, "rstd");
        Need(gain.Length, n, "gain"); Need(dx.Length, end * n, "dx"); Need(dGain.Length, n, "dGain"); Need(dBias.Length, n, "dBias");
        fixed (float* pdy = dy, pn = normalized, pr = rstd, pg = gain, pdx = dx, pdg = dGain, pdb = dBias)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: LayerNormBackward<Float512>(r0, rows, n, pdy, pn, pr, pg, pdx, pdg, pdb); break;
                case GemmIsa.Avx2: LayerNormBackward<Float256>(r0, rows, n, pdy, pn, pr, pg, pdx, pdg, pdb); break;
                default: LayerNormBackward<FloatPortable>(r0, rows, n, pdy, pn, pr, pg, pdx, pdg, pdb); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LayerNormBackward<TV>(int r0, int rows, int n, float* dy, float* normalized, float* rstd, float* gain,
        float* dx, float* dGain, float* dBias) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int r = r0; r < r0 + rows; r++)
        {
            float* dyr = dy + (nint)r * n, nr = normalized + (nint)r * n, dxr = dx + (nint)r * n;
            // dγ += dy ⊙ x̂, dβ += dy; dx̂ = dy ⊙ γ and its row sums Σdx̂, Σdx̂ ⊙ x̂
            TV sumV = TV.Zero, dotV = TV.Zero;
            int j = 0;
            for (; j + w <= n; j += w)
            {
                TV g = TV.Load(dyr + j), xh = TV.Load(nr + j);
                TV.Store(TV.FusedMultiplyAdd(g, xh, TV.Load(dGain + j)), dGain + j);
                TV.Store(TV.Add(TV.Load(dBias + j), g), dBias + j);
                TV dxh = TV.Multiply(g, TV.Load(gain + j));
                sumV = TV.Add(sumV, dxh);
                dotV = TV.FusedMultiplyAdd(dxh, xh, dotV);
            }
            float sum = TV.Sum(sumV), dot = TV.Sum(dotV);
            for (int k = j; k < n; k++)
            {
                float g = dyr[k];
                dGain[k] = MathF.FusedMultiplyAdd(g, nr[k], dGain[k]);
                dBias[k] += g;
                float dxh = g * gain[k];
                sum += dxh;
                dot = MathF.FusedMultiplyAdd(dxh, nr[k], dot);
            }
            // dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂ ⊙ x̂))
            float meanD = sum / n, meanDot = dot / n, inv = rstd[r];
            TV meanDV = TV.Broadcast(meanD), meanDotV = TV.Broadcast(meanDot), invV = TV.Broadcast(inv);
            j = 0;
            for (; j + w <= n; j += w)
            {
                TV dxh = TV.Multiply(TV.Load(dyr + j), TV.Load(gain + j));
                TV centred = TV.Subtract(TV.Subtract(dxh, meanDV), TV.Multiply(TV.Load(nr + j), meanDotV));
                TV.Store(TV.Multiply(invV, centred), dxr + j);
            }
            for (; j < n; j++) dxr[j] = inv * (dyr[j] * gain[j] - meanD - nr[j] * meanDot);
        }
    }

    /// <summary>Σ x over one row of length n (vector lanes first, then the tail in order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RowSum<TV>(float* x, int n) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, j = 0;
        TV sumV = TV.Zero;
        for (; j + w <= n; j += w) sumV = TV.Add(sumV, TV.Load(x + j));
        float sum = TV.Sum(sumV);
        for (; j < n; j++) sum += x[j];
        return sum;
    }

    /// <summary>Σ (x − mean)² over one row of length n (two-pass variance: no cancellation of E[x²] − μ²).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RowSquaredDeviation<TV>(float* x, int n, float mean) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, j = 0;
        TV meanV = TV.Broadcast(mean), sumV = TV.Zero;
        for (; j + w <= n; j += w)
        {
            TV d = TV.Subtract(TV.Load(x + j), meanV);
            sumV = TV.FusedMultiplyAdd(d, d, sumV);
        }
        float sum = TV.Sum(sumV);
        for (; j < n; j++)
        {
            float d = x[j] - mean;
            sum = MathF.FusedMultiplyAdd(d, d, sum);
        }
        return sum;
    }

    // ---- layer-normalised LSTM ----

    /// <summary>
    /// As <see cref="LstmCell.ForwardLayerNormReference{T}"/>, float32, rows [b0, b0 + rows): xGates, hGates
    /// [B, 4H]; cPrev, h, c, normalized [B, H]; saved [B, 5H]; rstd [B]; gain, bias [H].
    /// </summary>
    internal static void LstmLayerNormForward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> xGates, ReadOnlySpan<float> hGates, ReadOnlySpan<float> cPrev,
        Span<float> saved, Span<float> h, Span<float> c,
        ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, Span<float> normalized, Span<float> rstd)
    {
        long end = b0 + rows, H = hidden;
        Need(xGates.Length, end * 4 * H, "xGates"); Need(hGates.Length, end * 4 * H, "hGates");
        Need(cPrev.Length, end * H, "cPrev"); Need(saved.Length, end * 5 * H, "saved");
        Need(h.Length, end * H, "h"); Need(c.Length, end * H, "c");
        Need(gain.Length, H, "gain"); Need(bias.Length, H, "bias");
        Need(normalized.Length, end * H, "normalized"); Need(rstd.Length, end, "rstd");
        fixed (float* xg = xGates, hg = hGates, cp = cPrev, s = saved, ph = h, pc = c, pg = gain, pb = bias, pn = normalized, pr = rstd)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: LstmLayerNormForward<Float512>(b0, rows, hidden, xg, hg, cp, s, ph, pc, pg, pb, pn, pr); break;
                case GemmIsa.Avx2: LstmLayerNormForward<Float256>(b0, rows, hidden, xg, hg, cp, s, ph, pc, pg, pb, pn, pr); break;
                default: LstmLayerNormForward<FloatPortable>(b0, rows, hidden, xg, hg, cp, s, ph, pc, pg, pb, pn, pr); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmLayerNormForward<TV>(int b0, int rows, int H, float* xGates, float* hGates, float* cPrev,
        float* saved, float* h, float* c, float* gain, float* bias, float* normalized, float* rstd) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int b = b0; b < b0 + rows; b++)
        {
            float* xg = xGates + (nint)b * 4 * H, hg = hGates + (nint)b * 4 * H, act = saved + (nint)b * 5 * H;
            float* cp = cPrev + (nint)b * H, cr = c + (nint)b * H, hr = h + (nint)b * H, nr = normalized + (nint)b * H;
            // The gates and c = f ⊙ c_prev + i ⊙ g, summing c for its mean on the way.
            TV sumV = TV.Zero;
            int j = 0;
            for (; j + w <= H; j += w)
            {
                TV i = Sigmoid(TV.Add(TV.Load(xg + j), TV.Load(hg + j)));
                TV f = Sigmoid(TV.Add(TV.Load(xg + H + j), TV.Load(hg + H + j)));
                TV g = Tanh(TV.Add(TV.Load(xg + 2 * H + j), TV.Load(hg + 2 * H + j)));
                TV o = Sigmoid(TV.Add(TV.Load(xg + 3 * H + j), TV.Load(hg + 3 * H + j)));
                TV cn = TV.FusedMultiplyAdd(f, TV.Load(cp + j), TV.Multiply(i, g));
                TV.Store(i, act + j);
                TV.Store(f, act + H + j);
                TV.Store(g, act + 2 * H + j);
                TV.Store(o, act + 3 * H + j);
                TV.Store(cn, cr + j);
                sumV = TV.Add(sumV, cn);
            }
            float sum = TV.Sum(sumV);
            for (; j < H; j++)
            {
                float i = Sigmoid(xg[j] + hg[j]);
                float f = Sigmoid(xg[H + j] + hg[H + j]);
                float g = Tanh(xg[2 * H + j] + hg[2 * H + j]);
                float o = Sigmoid(xg[3 * H + j] + hg[3 * H + j]);
                float cn = MathF.FusedMultiplyAdd(f, cp[j], i * g);
                (act[j], act[H + j], act[2 * H + j], act[3 * H + j]) = (i, f, g, o);
                cr[j] = cn;
                sum += cn;
            }
            float mean = sum / H;
            float inv = 1f / MathF.Sqrt(RowSquaredDeviation<TV>(cr, H, mean) / H + RowLayerNorm<float>.Epsilon);
            rstd[b] = inv;
            // ĉ = (c − μ)·r,  y = γ ⊙ ĉ + β,  h = o ⊙ tanh(y); the TanhC slot keeps tanh(y)
            TV meanV = TV.Broadcast(mean), invV = TV.Broadcast(inv);
            j = 0;
            for (; j + w <= H; j += w)
            {
                TV ch = TV.Multiply(TV.Subtract(TV.Load(cr + j), meanV), invV);
                TV.Store(ch, nr + j);
                TV ty = Tanh(TV.FusedMultiplyAdd(TV.Load(gain + j), ch, TV.Load(bias + j)));
                TV.Store(ty, act + 4 * H + j);
                TV.Store(TV.Multiply(TV.Load(act + 3 * H + j), ty), hr + j);
            }
            for (; j < H; j++)
            {
                float ch = (cr[j] - mean) * inv;
                nr[j] = ch;
                float ty = Tanh(MathF.FusedMultiplyAdd(gain[j], ch, bias[j]));
                act[4 * H + j] = ty;
                hr[j] = act[3 * H + j] * ty;
            }
        }
    }

    /// <summary>
    /// As <see cref="LstmCell.BackwardLayerNormReference{T}"/>, float32, rows [b0, b0 + rows): saved [B, 5H]; cPrev,
    /// dh, dc, normalized, dhPrev, dcPrev [B, H]; rstd [B]; gain [H]; dGates [B, 4H]; adds into dGain, dBias [H], row
    /// after row in order. Rows with lengths[b] ≤ step (lengths empty or [B]) are skipped, as the reference.
    /// </summary>
    internal static void LstmLayerNormBackward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> saved, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> dh, ReadOnlySpan<float> dc,
        ReadOnlySpan<float> normalized, ReadOnlySpan<float> rstd, ReadOnlySpan<float> gain,
        Span<float> dGates, Span<float> dhPrev, Span<float> dcPrev, Span<float> dGain, Span<float> dBias,
        ReadOnlySpan<int> lengths, int step)
    {
        long end = b0 + rows, H = hidden;
        Need(saved.Length, end * 5 * H, "saved"); Need(cPrev.Length, end * H, "cPrev");
        Need(dh.Length, end * H, "dh"); Need(dc.Length, end * H, "dc");
        Need(normalized.Length, end * H, "normalized"); Need(rstd.Length, end, "rstd"); Need(gain.Length, H, "gain");
        Need(dGates.Length, end * 4 * H, "dGates"); Need(dhPrev.Length, end * H, "dhPrev"); Need(dcPrev.Length, end * H, "dcPrev");
        Need(dGain.Length, H, "dGain"); Need(dBias.Length, H, "dBias");
        if (!lengths.IsEmpty) Need(lengths.Length, end, "lengths");
        dhPrev.Slice(b0 * hidden, rows * hidden).Clear(); // h_prev reaches the loss only through W_hh
        fixed (float* s = saved, cp = cPrev, pdh = dh, pdc = dc, pn = normalized, pr = rstd, pg = gain, da = dGates, dcp = dcPrev,
            pdg = dGain, pdb = dBias)
        fixed (int* pl = lengths)
        {
            int* len = lengths.IsEmpty ? null : pl;
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: LstmLayerNormBackward<Float512>(b0, rows, hidden, s, cp, pdh, pdc, pn, pr, pg, da, dcp, pdg, pdb, len, step); break;
                case GemmIsa.Avx2: LstmLayerNormBackward<Float256>(b0, rows, hidden, s, cp, pdh, pdc, pn, pr, pg, da, dcp, pdg, pdb, len, step); break;
                default: LstmLayerNormBackward<FloatPortable>(b0, rows, hidden, s, cp, pdh, pdc, pn, pr, pg, da, dcp, pdg, pdb, len, step); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmLayerNormBackward<TV>(int b0, int rows, int H, float* saved, float* cPrev, float* dh, float* dc,
        float* normalized, float* rstd, float* gain, float* dGates, float* dcPrev, float* dGain, float* dBias,
        int* lengths, int step) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        TV one = TV.Broadcast(1f);
        for (int b = b0; b < b0 + rows; b++)
        {
            if (lengths != null && step >= lengths[b]) continue;
            float* act = saved + (nint)b * 5 * H, da = dGates + (nint)b * 4 * H, ch = normalized + (nint)b * H;
            float* cp = cPrev + (nint)b * H, dhr = dh + (nint)b * H, dcr = dc + (nint)b * H, dcp = dcPrev + (nint)b * H;
            // y = γ ⊙ ĉ + β, h = o ⊙ tanh(y): dy = dh ⊙ o ⊙ (1 − tanh²y); dγ += dy ⊙ ĉ, dβ += dy; dĉ = dy ⊙ γ and
            // the row sums LN's backward needs
            TV sumV = TV.Zero, dotV = TV.Zero;
            int j = 0;
            for (; j + w <= H; j += w)
            {
                TV ty = TV.Load(act + 4 * H + j), chj = TV.Load(ch + j);
                TV dy = TV.Multiply(TV.Multiply(TV.Load(dhr + j), TV.Load(act + 3 * H + j)), TV.Subtract(one, TV.Multiply(ty, ty)));
                TV.Store(TV.FusedMultiplyAdd(dy, chj, TV.Load(dGain + j)), dGain + j);
                TV.Store(TV.Add(TV.Load(dBias + j), dy), dBias + j);
                TV dch = TV.Multiply(dy, TV.Load(gain + j));
                sumV = TV.Add(sumV, dch);
                dotV = TV.FusedMultiplyAdd(dch, chj, dotV);
            }
            float sum = TV.Sum(sumV), dot = TV.Sum(dotV);
            for (int k = j; k < H; k++)
            {
                float ty = act[4 * H + k];
                float dy = dhr[k] * act[3 * H + k] * (1f - ty * ty);
                dGain[k] = MathF.FusedMultiplyAdd(dy, ch[k], dGain[k]);
                dBias[k] += dy;
                float dch = dy * gain[k];
                sum += dch;
                dot = MathF.FusedMultiplyAdd(dch, ch[k], dot);
            }
            float meanD = sum / H, meanDot = dot / H, inv = rstd[b];
            TV meanDV = TV.Broadcast(meanD), meanDotV = TV.Broadcast(meanDot), invV = TV.Broadcast(inv);
            j = 0;
            for (; j + w <= H; j += w)
            {
                TV i = TV.Load(act + j), f = TV.Load(act + H + j), g = TV.Load(act + 2 * H + j);
                TV o = TV.Load(act + 3 * H + j), ty = TV.Load(act + 4 * H + j), dhj = TV.Load(dhr + j);
                // dc += r·(dĉ − mean(dĉ) − ĉ·mean(dĉ ⊙ ĉ)), then c = f ⊙ c_prev + i ⊙ g as the plain cell
                TV dch = TV.Multiply(TV.Multiply(TV.Multiply(dhj, o), TV.Subtract(one, TV.Multiply(ty, ty))), TV.Load(gain + j));
                TV centred = TV.Subtract(TV.Subtract(dch, meanDV), TV.Multiply(TV.Load(ch + j), meanDotV));
                TV dcj = TV.FusedMultiplyAdd(invV, centred, TV.Load(dcr + j));
                TV dO = TV.Multiply(dhj, ty);
                TV.Store(TV.Multiply(dcj, f), dcp + j);
                TV.Store(TV.Multiply(TV.Multiply(TV.Multiply(dcj, g), i), TV.Subtract(one, i)), da + j);
                TV.Store(TV.Multiply(TV.Multiply(TV.Multiply(dcj, TV.Load(cp + j)), f), TV.Subtract(one, f)), da + H + j);
                TV.Store(TV.Multiply(TV.Multiply(dcj, i), TV.Subtract(one, TV.Multiply(g, g))), da + 2 * H + j);
                TV.Store(TV.Multiply(TV.Multiply(dO, o), TV.Subtract(one, o)), da + 3 * H + j);
            }
            for (; j < H; j++)
            {
                float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], ty = act[4 * H + j], dhj = dhr[j];
                float dch = dhj * o * (1f - ty * ty) * gain[j];
                float dcj = MathF.FusedMultiplyAdd(inv, dch - meanD - ch[j] * meanDot, dcr[j]);
                float dO = dhj * ty;
                dcp[j] = dcj * f;
                da[j] = dcj * g * i * (1f - i);
                da[H + j] = dcj * cp[j] * f * (1f - f);
                da[2 * H + j] = dcj * i * (1f - g * g);
                da[3 * H + j] = dO * o * (1f - o);
            }
        }
    }

    // ---- zoneout ----
    // Element-wise with the reference's exact operations (no fused multiply-add), so the vector body, the scalar
    // tail and the generic float reference agree to the bit, wherever a call's span starts.

    /// <summary>
    /// As <see cref="ZoneoutKernel{T}.MixReference"/>: next = ζ ⊙ prev + (1 − ζ) ⊙ next over [N]; ζ the mask [N], or
    /// (mask empty) the scalar.
    /// </summary>
    internal static void ZoneoutMix(GemmIsa isa, Span<float> next, ReadOnlySpan<float> prev, ReadOnlySpan<float> mask, float scalar)
    {
        Need(prev.Length, next.Length, "prev");
        if (!mask.IsEmpty) Need(mask.Length, next.Length, "mask");
        fixed (float* pn = next, pp = prev, pm = mask)
        {
            float* m = mask.IsEmpty ? null : pm;
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: ZoneoutMix<Float512>(next.Length, pn, pp, m, scalar); break;
                case GemmIsa.Avx2: ZoneoutMix<Float256>(next.Length, pn, pp, m, scalar); break;
                default: ZoneoutMix<FloatPortable>(next.Length, pn, pp, m, scalar); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ZoneoutMix<TV>(int n, float* next, float* prev, float* mask, float scalar) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, j = 0;
        TV one = TV.Broadcast(1f), scalarV = TV.Broadcast(scalar);
        for (; j + w <= n; j += w)
        {
            TV z = mask == null ? scalarV : TV.Load(mask + j);
            TV.Store(TV.Add(TV.Multiply(z, TV.Load(prev + j)), TV.Multiply(TV.Subtract(one, z), TV.Load(next + j))), next + j);
        }
        for (; j < n; j++)
        {
            float z = mask == null ? scalar : mask[j];
            next[j] = z * prev[j] + (1f - z) * next[j];
        }
    }

    /// <summary>As <see cref="ZoneoutKernel{T}.UpdateGradientReference"/>: into = (1 − ζ) ⊙ d over [N].</summary>
    internal static void ZoneoutUpdateGradient(GemmIsa isa, ReadOnlySpan<float> d, ReadOnlySpan<float> mask, float scalar, Span<float> into)
        => ZoneoutScale(isa, d, mask, scalar, into, kept: false);

    /// <summary>As <see cref="ZoneoutKernel{T}.AddKeptGradientReference"/>: into += ζ ⊙ d over [N].</summary>
    internal static void ZoneoutAddKeptGradient(GemmIsa isa, ReadOnlySpan<float> d, ReadOnlySpan<float> mask, float scalar, Span<float> into)
        => ZoneoutScale(isa, d, mask, scalar, into, kept: true);

    private static void ZoneoutScale(GemmIsa isa, ReadOnlySpan<float> d, ReadOnlySpan<float> mask, float scalar, Span<float> into, bool kept)
    {
        Need(into.Length, d.Length, "into");
        if (!mask.IsEmpty) Need(mask.Length, d.Length, "mask");
        fixed (float* pd = d, pm = mask, pi = into)
        {
            float* m = mask.IsEmpty ? null : pm;
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: ZoneoutScale<Float512>(d.Length, pd, m, scalar, pi, kept); break;
                case GemmIsa.Avx2: ZoneoutScale<Float256>(d.Length, pd, m, scalar, pi, kept); break;
                default: ZoneoutScale<FloatPortable>(d.Length, pd, m, scalar, pi, kept); break;
            }
        }
    }

    /// <summary>kept: into += ζ ⊙ d; otherwise into = (1 − ζ) ⊙ d.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ZoneoutScale<TV>(int n, float* d, float* mask, float scalar, float* into, bool kept) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, j = 0;
        TV one = TV.Broadcast(1f), scalarV = TV.Broadcast(scalar);
        for (; j + w <= n; j += w)
        {
            TV z = mask == null ? scalarV : TV.Load(mask + j);
            TV.Store(kept ? TV.Add(TV.Load(into + j), TV.Multiply(z, TV.Load(d + j))) : TV.Multiply(TV.Subtract(one, z), TV.Load(d + j)), into + j);
        }
        for (; j < n; j++)
        {
            float z = mask == null ? scalar : mask[j];
            into[j] = kept ? into[j] + z * d[j] : (1f - z) * d[j];
        }
    }
}
