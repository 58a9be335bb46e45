using System.Runtime.CompilerServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// float32 production kernels of the cells' per-step arithmetic: one SIMD pass per batch row that adds the two
/// pre-activations, applies σ/tanh and updates the state (forward), or runs the whole gate chain rule (backward),
/// with no intermediate passes over memory; the LSTM and GRU forward kernels run most lanes of each row as passes of
/// four vectors in lockstep instead, one pass per gate (see FusedCellsInLockstep.cs), with the same bits. The generic
/// cell code (<c>ForwardReference</c>/<c>BackwardReference</c> of each cell) is the reference they are held to; double
/// always runs the reference.
/// </summary>
/// <remarks>
/// σ(x) = 1/(1 + e^−x) with <see cref="FastExp"/>'s e^x, and tanh(x) = x·P(x²)/Q(x²) on x clamped to ±7.9, P and Q
/// of degree 4 in x², fitted to tanh's relative error on [0, 7.9] (fit error 6e-9): 13 operations where the
/// exponential form (with a Taylor polynomial near 0, where 1 − e^−2|x| cancels) took about 30, which made the LSTM
/// cell 1.4× faster. Measured against the double formulas (<c>FusedCellTests</c>): max relative error 1.5e-7 for σ
/// and 2.9e-7 for tanh (over every float in [2^−30, 12] as well), where the exponential form of tanh had 1.8e-7; the
/// float roundings of P and Q put tanh within 5 ulp of ±1 near saturation. The row tail past the last full vector
/// uses the same formulas in scalar float (FastExp's scalar form), so
/// results depend only on H and the instruction set, never on the thread count.
/// Every SIMD kernel is <c>NoInlining</c>: inlined into its span-taking dispatcher at tier 1, the dispatcher ran out
/// of inlining budget and the vector operations inside the kernel became calls (b inference 1.8× slower).
/// </remarks>
internal static unsafe partial class FusedCells
{
    /// <summary>The instruction set the kernels run on here (Auto resolved).</summary>
    internal static GemmIsa Resolve(GemmIsa isa) => isa != GemmIsa.Auto ? isa : GemmSimd.AutoIsa();

    private static void Need(int length, long needed, string name)
    {
        if (length < needed) throw new ArgumentException($"Fused cell kernel: {name} holds {length} values; needs {needed}.");
    }

    // ---- activations ----

    // tanh(x) = x·P(x²)/Q(x²), P and Q of degree 4 in x², with x clamped to ±TanhClamp (where float's tanh is within
    // 3e-7 of ±1).
    private const float TanhClamp = 7.9f;
    private const float TanhP1 = 1.3450624e-01f, TanhP2 = 3.5789942e-03f, TanhP3 = 2.2023227e-05f, TanhP4 = 1.542782e-08f;
    private const float TanhQ1 = 4.678395e-01f, TanhQ2 = 2.619225e-02f, TanhQ3 = 3.423652e-04f, TanhQ4 = 8.598746e-07f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Sigmoid<TV>(TV x) where TV : struct, IFloatVector<TV>
    {
        TV one = TV.Broadcast(1f);
        return TV.Divide(one, TV.Add(one, FastExp.Exp(TV.Subtract(TV.Zero, x))));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Tanh<TV>(TV x) where TV : struct, IFloatVector<TV>
    {
        TV one = TV.Broadcast(1f);
        x = TV.Clamp(x, TV.Broadcast(-TanhClamp), TV.Broadcast(TanhClamp));
        TV s = TV.Multiply(x, x);
        TV p = TV.FusedMultiplyAdd(TV.Broadcast(TanhP4), s, TV.Broadcast(TanhP3));
        p = TV.FusedMultiplyAdd(p, s, TV.Broadcast(TanhP2));
        p = TV.FusedMultiplyAdd(p, s, TV.Broadcast(TanhP1));
        p = TV.FusedMultiplyAdd(p, s, one);
        TV q = TV.FusedMultiplyAdd(TV.Broadcast(TanhQ4), s, TV.Broadcast(TanhQ3));
        q = TV.FusedMultiplyAdd(q, s, TV.Broadcast(TanhQ2));
        q = TV.FusedMultiplyAdd(q, s, TV.Broadcast(TanhQ1));
        q = TV.FusedMultiplyAdd(q, s, one);
        return TV.Divide(TV.Multiply(x, p), q);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Sigmoid(float x) => 1f / (1f + FastExp.Exp(-x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Tanh(float x)
    {
        x = Math.Min(Math.Max(x, -TanhClamp), TanhClamp);
        float s = x * x;
        float p = MathF.FusedMultiplyAdd(TanhP4, s, TanhP3);
        p = MathF.FusedMultiplyAdd(p, s, TanhP2);
        p = MathF.FusedMultiplyAdd(p, s, TanhP1);
        p = MathF.FusedMultiplyAdd(p, s, 1f);
        float q = MathF.FusedMultiplyAdd(TanhQ4, s, TanhQ3);
        q = MathF.FusedMultiplyAdd(q, s, TanhQ2);
        q = MathF.FusedMultiplyAdd(q, s, TanhQ1);
        q = MathF.FusedMultiplyAdd(q, s, 1f);
        return x * p / q;
    }

    /// <summary>y = σ(x) or tanh(x) over a span with the fused kernels' formulas (tests measure their accuracy).</summary>
    internal static void Activate(GemmIsa isa, bool tanh, ReadOnlySpan<float> x, Span<float> y)
    {
        Need(y.Length, x.Length, "y");
        fixed (float* px = x, py = y)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: Activate<Float512>(tanh, x.Length, px, py); break;
                case GemmIsa.Avx2: Activate<Float256>(tanh, x.Length, px, py); break;
                default: Activate<FloatPortable>(tanh, x.Length, px, py); break;
            }
        }
    }

    private static void Activate<TV>(bool tanh, int n, float* x, float* y) where TV : struct, IFloatVector<TV>
    {
        int j = 0, w = TV.Count;
        for (; j + w <= n; j += w) TV.Store(tanh ? Tanh(TV.Load(x + j)) : Sigmoid(TV.Load(x + j)), y + j);
        for (; j < n; j++) y[j] = tanh ? Tanh(x[j]) : Sigmoid(x[j]);
    }

    /// <summary>
    /// gates[k] plus, when a bias row is given, bias[k]: the cells add b_ih to xGates as their first operation on it,
    /// rather than in a pass over all steps' xGates, and b_hh to hGates, rather than copying b_hh into every row
    /// before the recurrent product accumulates onto it; (x·W + b) + (h·W + b') has the same bits as either.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV WithBias<TV>(float* gates, float* bias, nint k) where TV : struct, IFloatVector<TV> =>
        bias == null ? TV.Load(gates + k) : TV.Add(TV.Load(gates + k), TV.Load(bias + k));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float WithBias(float* gates, float* bias, nint k) => bias == null ? gates[k] : gates[k] + bias[k];

    /// <summary>Checks an optional input bias row: empty, or at least <paramref name="width"/> (G·H) values.</summary>
    private static void NeedBias(int length, long width, string name = "xBias")
    {
        if (length != 0) Need(length, width, name);
    }

    // ---- LSTM ----

    /// <summary>As <see cref="LstmCell.ForwardReference{T}"/>, float32, rows [b0, b0 + rows).</summary>
    internal static void LstmForward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> xGates, ReadOnlySpan<float> xBias, ReadOnlySpan<float> hGates, ReadOnlySpan<float> cPrev,
        Span<float> saved, Span<float> h, Span<float> c, ReadOnlySpan<float> hBias = default)
    {
        long end = b0 + rows, H = hidden;
        Need(xGates.Length, end * 4 * H, "xGates"); NeedBias(xBias.Length, 4 * H); Need(hGates.Length, end * 4 * H, "hGates");
        NeedBias(hBias.Length, 4 * H, "hBias");
        Need(cPrev.Length, end * H, "cPrev"); Need(saved.Length, end * 5 * H, "saved");
        Need(h.Length, end * H, "h"); Need(c.Length, end * H, "c");
        fixed (float* xg = xGates, xb = xBias, hg = hGates, hb = hBias, cp = cPrev, s = saved, ph = h, pc = c)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: LstmForward<Float512>(b0, rows, hidden, xg, xb, hg, hb, cp, s, ph, pc); break;
                case GemmIsa.Avx2: LstmForward<Float256>(b0, rows, hidden, xg, xb, hg, hb, cp, s, ph, pc); break;
                default: LstmForward<FloatPortable>(b0, rows, hidden, xg, xb, hg, hb, cp, s, ph, pc); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmForward<TV>(int b0, int rows, int H, float* xGates, float* xBias, float* hGates, float* hBias, float* cPrev,
        float* saved, float* h, float* c) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, wide = LockstepWidth<TV>(H);
        if (wide > 0) LstmForwardInLockstep<TV>(b0, rows, H, wide, xGates, xBias, hGates, hBias, cPrev, saved, h, c);
        for (int b = b0; b < b0 + rows; b++)
        {
            float* xg = xGates + (nint)b * 4 * H, hg = hGates + (nint)b * 4 * H, act = saved + (nint)b * 5 * H;
            float* cp = cPrev + (nint)b * H, cr = c + (nint)b * H, hr = h + (nint)b * H;
            int j = wide;
            for (; j + w <= H; j += w)
            {
                TV i = Sigmoid(TV.Add(WithBias<TV>(xg, xBias, j), WithBias<TV>(hg, hBias, j)));
                TV f = Sigmoid(TV.Add(WithBias<TV>(xg, xBias, H + j), WithBias<TV>(hg, hBias, H + j)));
                TV g = Tanh(TV.Add(WithBias<TV>(xg, xBias, 2 * H + j), WithBias<TV>(hg, hBias, 2 * H + j)));
                TV o = Sigmoid(TV.Add(WithBias<TV>(xg, xBias, 3 * H + j), WithBias<TV>(hg, hBias, 3 * H + j)));
                TV cn = TV.FusedMultiplyAdd(f, TV.Load(cp + j), TV.Multiply(i, g));
                TV tc = Tanh(cn);
                TV.Store(i, act + j);
                TV.Store(f, act + H + j);
                TV.Store(g, act + 2 * H + j);
                TV.Store(o, act + 3 * H + j);
                TV.Store(tc, act + 4 * H + j);
                TV.Store(cn, cr + j);
                TV.Store(TV.Multiply(o, tc), hr + j);
            }
            for (; j < H; j++)
            {
                float i = Sigmoid(WithBias(xg, xBias, j) + WithBias(hg, hBias, j));
                float f = Sigmoid(WithBias(xg, xBias, H + j) + WithBias(hg, hBias, H + j));
                float g = Tanh(WithBias(xg, xBias, 2 * H + j) + WithBias(hg, hBias, 2 * H + j));
                float o = Sigmoid(WithBias(xg, xBias, 3 * H + j) + WithBias(hg, hBias, 3 * H + j));
                float cn = MathF.FusedMultiplyAdd(f, cp[j], i * g);
                float tc = Tanh(cn);
                (act[j], act[H + j], act[2 * H + j], act[3 * H + j], act[4 * H + j]) = (i, f, g, o, tc);
                cr[j] = cn;
                hr[j] = o * tc;
            }
        }
    }

    /// <summary>As <see cref="LstmCell.BackwardReference{T}"/>, float32, rows [b0, b0 + rows).</summary>
    internal static void LstmBackward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> saved, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> dh, ReadOnlySpan<float> dc,
        Span<float> dGates, Span<float> dhPrev, Span<float> dcPrev)
    {
        long end = b0 + rows, H = hidden;
        Need(saved.Length, end * 5 * H, "saved"); Need(cPrev.Length, end * H, "cPrev");
        Need(dh.Length, end * H, "dh"); Need(dc.Length, end * H, "dc"); Need(dGates.Length, end * 4 * H, "dGates");
        Need(dhPrev.Length, end * H, "dhPrev"); Need(dcPrev.Length, end * H, "dcPrev");
        dhPrev.Slice(b0 * hidden, rows * hidden).Clear(); // h_prev reaches the loss only through W_hh
        fixed (float* s = saved, cp = cPrev, pdh = dh, pdc = dc, da = dGates, dcp = dcPrev)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: LstmBackward<Float512>(b0, rows, hidden, s, cp, pdh, pdc, da, dcp); break;
                case GemmIsa.Avx2: LstmBackward<Float256>(b0, rows, hidden, s, cp, pdh, pdc, da, dcp); break;
                default: LstmBackward<FloatPortable>(b0, rows, hidden, s, cp, pdh, pdc, da, dcp); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmBackward<TV>(int b0, int rows, int H, float* saved, float* cPrev, float* dh, float* dc,
        float* dGates, float* dcPrev) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        TV one = TV.Broadcast(1f);
        for (int b = b0; b < b0 + rows; b++)
        {
            float* act = saved + (nint)b * 5 * H, da = dGates + (nint)b * 4 * H;
            float* cp = cPrev + (nint)b * H, dhr = dh + (nint)b * H, dcr = dc + (nint)b * H, dcp = dcPrev + (nint)b * H;
            int j = 0;
            for (; j + w <= H; j += w)
            {
                TV i = TV.Load(act + j), f = TV.Load(act + H + j), g = TV.Load(act + 2 * H + j);
                TV o = TV.Load(act + 3 * H + j), tc = TV.Load(act + 4 * H + j), dhj = TV.Load(dhr + j);
                TV dcj = TV.Add(TV.Load(dcr + j), TV.Multiply(TV.Multiply(dhj, o), TV.Subtract(one, TV.Multiply(tc, tc))));
                TV dO = TV.Multiply(dhj, tc);
                TV.Store(TV.Multiply(dcj, f), dcp + j);
                TV.Store(TV.Multiply(TV.Multiply(TV.Multiply(dcj, g), i), TV.Subtract(one, i)), da + j);
                TV.Store(TV.Multiply(TV.Multiply(TV.Multiply(dcj, TV.Load(cp + j)), f), TV.Subtract(one, f)), da + H + j);
                TV.Store(TV.Multiply(TV.Multiply(dcj, i), TV.Subtract(one, TV.Multiply(g, g))), da + 2 * H + j);
                TV.Store(TV.Multiply(TV.Multiply(dO, o), TV.Subtract(one, o)), da + 3 * H + j);
            }
            for (; j < H; j++)
            {
                float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], tc = act[4 * H + j], dhj = dhr[j];
                float dcj = dcr[j] + dhj * o * (1f - tc * tc);
                float dO = dhj * tc;
                dcp[j] = dcj * f;
                da[j] = dcj * g * i * (1f - i);
                da[H + j] = dcj * cp[j] * f * (1f - f);
                da[2 * H + j] = dcj * i * (1f - g * g);
                da[3 * H + j] = dO * o * (1f - o);
            }
        }
    }

    // ---- GRU ----

    /// <summary>As <see cref="GruCell.ForwardReference{T}"/>, float32, rows [b0, b0 + rows).</summary>
    internal static void GruForward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> xGates, ReadOnlySpan<float> xBias, ReadOnlySpan<float> hGates, ReadOnlySpan<float> hPrev, Span<float> saved, Span<float> h,
        ReadOnlySpan<float> hBias = default)
    {
        long end = b0 + rows, H = hidden;
        Need(xGates.Length, end * 3 * H, "xGates"); NeedBias(xBias.Length, 3 * H); Need(hGates.Length, end * 3 * H, "hGates");
        NeedBias(hBias.Length, 3 * H, "hBias");
        Need(hPrev.Length, end * H, "hPrev"); Need(saved.Length, end * 4 * H, "saved"); Need(h.Length, end * H, "h");
        fixed (float* xg = xGates, xb = xBias, hg = hGates, hb = hBias, hp = hPrev, s = saved, ph = h)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: GruForward<Float512>(b0, rows, hidden, xg, xb, hg, hb, hp, s, ph); break;
                case GemmIsa.Avx2: GruForward<Float256>(b0, rows, hidden, xg, xb, hg, hb, hp, s, ph); break;
                default: GruForward<FloatPortable>(b0, rows, hidden, xg, xb, hg, hb, hp, s, ph); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruForward<TV>(int b0, int rows, int H, float* xGates, float* xBias, float* hGates, float* hBias, float* hPrev,
        float* saved, float* h) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, wide = LockstepWidth<TV>(H);
        if (wide > 0) GruForwardInLockstep<TV>(b0, rows, H, wide, xGates, xBias, hGates, hBias, hPrev, saved, h);
        for (int b = b0; b < b0 + rows; b++)
        {
            float* xg = xGates + (nint)b * 3 * H, hg = hGates + (nint)b * 3 * H, act = saved + (nint)b * 4 * H;
            float* hp = hPrev + (nint)b * H, hr = h + (nint)b * H;
            int j = wide;
            for (; j + w <= H; j += w)
            {
                TV r = Sigmoid(TV.Add(WithBias<TV>(xg, xBias, j), WithBias<TV>(hg, hBias, j)));
                TV z = Sigmoid(TV.Add(WithBias<TV>(xg, xBias, H + j), WithBias<TV>(hg, hBias, H + j)));
                TV hn = WithBias<TV>(hg, hBias, 2 * H + j);
                TV n = Tanh(TV.FusedMultiplyAdd(r, hn, WithBias<TV>(xg, xBias, 2 * H + j)));
                TV.Store(r, act + j);
                TV.Store(z, act + H + j);
                TV.Store(n, act + 2 * H + j);
                TV.Store(hn, act + 3 * H + j);
                TV.Store(TV.FusedMultiplyAdd(z, TV.Subtract(TV.Load(hp + j), n), n), hr + j);
            }
            for (; j < H; j++)
            {
                float r = Sigmoid(WithBias(xg, xBias, j) + WithBias(hg, hBias, j));
                float z = Sigmoid(WithBias(xg, xBias, H + j) + WithBias(hg, hBias, H + j));
                float hn = WithBias(hg, hBias, 2 * H + j);
                float n = Tanh(MathF.FusedMultiplyAdd(r, hn, WithBias(xg, xBias, 2 * H + j)));
                (act[j], act[H + j], act[2 * H + j], act[3 * H + j]) = (r, z, n, hn);
                hr[j] = MathF.FusedMultiplyAdd(z, hp[j] - n, n);
            }
        }
    }

    /// <summary>As <see cref="GruCell.BackwardReference{T}"/>, float32, rows [b0, b0 + rows).</summary>
    internal static void GruBackward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> saved, ReadOnlySpan<float> hPrev, ReadOnlySpan<float> dh,
        Span<float> dXGates, Span<float> dHGates, Span<float> dhPrev)
    {
        long end = b0 + rows, H = hidden;
        Need(saved.Length, end * 4 * H, "saved"); Need(hPrev.Length, end * H, "hPrev"); Need(dh.Length, end * H, "dh");
        Need(dXGates.Length, end * 3 * H, "dXGates"); Need(dHGates.Length, end * 3 * H, "dHGates"); Need(dhPrev.Length, end * H, "dhPrev");
        fixed (float* s = saved, hp = hPrev, pdh = dh, dx = dXGates, dhg = dHGates, dhp = dhPrev)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: GruBackward<Float512>(b0, rows, hidden, s, hp, pdh, dx, dhg, dhp); break;
                case GemmIsa.Avx2: GruBackward<Float256>(b0, rows, hidden, s, hp, pdh, dx, dhg, dhp); break;
                default: GruBackward<FloatPortable>(b0, rows, hidden, s, hp, pdh, dx, dhg, dhp); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruBackward<TV>(int b0, int rows, int H, float* saved, float* hPrev, float* dh,
        float* dXGates, float* dHGates, float* dhPrev) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        TV one = TV.Broadcast(1f);
        for (int b = b0; b < b0 + rows; b++)
        {
            float* act = saved + (nint)b * 4 * H, dx = dXGates + (nint)b * 3 * H, dhg = dHGates + (nint)b * 3 * H;
            float* hp = hPrev + (nint)b * H, dhr = dh + (nint)b * H, dhp = dhPrev + (nint)b * H;
            int j = 0;
            for (; j + w <= H; j += w)
            {
                TV r = TV.Load(act + j), z = TV.Load(act + H + j), n = TV.Load(act + 2 * H + j), hn = TV.Load(act + 3 * H + j);
                TV dhj = TV.Load(dhr + j);
                TV dn = TV.Multiply(dhj, TV.Subtract(one, z));
                TV dz = TV.Multiply(dhj, TV.Subtract(TV.Load(hp + j), n));
                TV.Store(TV.Multiply(dhj, z), dhp + j);
                TV dan = TV.Multiply(dn, TV.Subtract(one, TV.Multiply(n, n)));
                TV dar = TV.Multiply(TV.Multiply(TV.Multiply(dan, hn), r), TV.Subtract(one, r));
                TV daz = TV.Multiply(TV.Multiply(dz, z), TV.Subtract(one, z));
                TV.Store(dar, dx + j);
                TV.Store(daz, dx + H + j);
                TV.Store(dan, dx + 2 * H + j);
                TV.Store(dar, dhg + j);
                TV.Store(daz, dhg + H + j);
                TV.Store(TV.Multiply(dan, r), dhg + 2 * H + j);
            }
            for (; j < H; j++)
            {
                float r = act[j], z = act[H + j], n = act[2 * H + j], hn = act[3 * H + j], dhj = dhr[j];
                float dn = dhj * (1f - z), dz = dhj * (hp[j] - n);
                dhp[j] = dhj * z;
                float dan = dn * (1f - n * n);
                float dar = dan * hn * r * (1f - r), daz = dz * z * (1f - z);
                (dx[j], dx[H + j], dx[2 * H + j]) = (dar, daz, dan);
                (dhg[j], dhg[H + j], dhg[2 * H + j]) = (dar, daz, dan * r);
            }
        }
    }

    // ---- RNN (tanh) ----

    /// <summary>As <see cref="RnnCell.ForwardReference{T}"/>, float32, rows [b0, b0 + rows).</summary>
    internal static void RnnForward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> xGates, ReadOnlySpan<float> xBias, ReadOnlySpan<float> hGates, Span<float> saved, Span<float> h,
        ReadOnlySpan<float> hBias = default)
    {
        int start = b0 * hidden, n = rows * hidden;
        Need(xGates.Length, (long)start + n, "xGates"); NeedBias(xBias.Length, hidden); Need(hGates.Length, (long)start + n, "hGates");
        NeedBias(hBias.Length, hidden, "hBias");
        Need(saved.Length, (long)start + n, "saved"); Need(h.Length, (long)start + n, "h");
        fixed (float* xg = xGates, xb = xBias, hg = hGates, hb = hBias, s = saved, ph = h)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: RnnForward<Float512>(b0, rows, hidden, xg, xb, hg, hb, s, ph); break;
                case GemmIsa.Avx2: RnnForward<Float256>(b0, rows, hidden, xg, xb, hg, hb, s, ph); break;
                default: RnnForward<FloatPortable>(b0, rows, hidden, xg, xb, hg, hb, s, ph); break;
            }
        }
    }

    /// <summary>
    /// Row by row, so which units take the vector tanh and which the scalar one depends only on the unit, not on
    /// which rows a call covers (a batch split across threads computes the same bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnForward<TV>(int b0, int rows, int H, float* xGates, float* xBias, float* hGates, float* hBias, float* saved, float* h) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int b = b0; b < b0 + rows; b++)
        {
            nint row = (nint)b * H;
            float* xg = xGates + row, hg = hGates + row, s = saved + row, hr = h + row;
            int j = 0;
            for (; j + w <= H; j += w)
            {
                TV y = Tanh(TV.Add(WithBias<TV>(xg, xBias, j), WithBias<TV>(hg, hBias, j)));
                TV.Store(y, hr + j);
                TV.Store(y, s + j);
            }
            for (; j < H; j++) hr[j] = s[j] = Tanh(WithBias(xg, xBias, j) + WithBias(hg, hBias, j));
        }
    }

    /// <summary>As <see cref="RnnCell.BackwardReference{T}"/>, float32, rows [b0, b0 + rows).</summary>
    internal static void RnnBackward(GemmIsa isa, int b0, int rows, int hidden,
        ReadOnlySpan<float> saved, ReadOnlySpan<float> dh, Span<float> dGates, Span<float> dhPrev)
    {
        int start = b0 * hidden, n = rows * hidden;
        Need(saved.Length, (long)start + n, "saved"); Need(dh.Length, (long)start + n, "dh");
        Need(dGates.Length, (long)start + n, "dGates"); Need(dhPrev.Length, (long)start + n, "dhPrev");
        dhPrev.Slice(start, n).Clear();
        fixed (float* s = saved, pdh = dh, da = dGates)
        {
            switch (Resolve(isa))
            {
                case GemmIsa.Avx512: RnnBackward<Float512>(start, n, s, pdh, da); break;
                case GemmIsa.Avx2: RnnBackward<Float256>(start, n, s, pdh, da); break;
                default: RnnBackward<FloatPortable>(start, n, s, pdh, da); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RnnBackward<TV>(int start, int n, float* saved, float* dh, float* da) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count, end = start + n, j = start;
        TV one = TV.Broadcast(1f);
        for (; j + w <= end; j += w)
        {
            TV y = TV.Load(saved + j);
            TV.Store(TV.Multiply(TV.Load(dh + j), TV.Subtract(one, TV.Multiply(y, y))), da + j);
        }
        for (; j < end; j++) da[j] = dh[j] * (1f - saved[j] * saved[j]);
    }
}
