using System.Runtime.CompilerServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// The cells' forward kernels on four vectors at a time: lanes [0, wide) of each row, wide the largest multiple of
/// 4·TV.Count in H, with the one-vector loops taking the lanes after. Each lane gets exactly the operations of the
/// one-vector loop, so the bits are the same (FusedCellTests.FourVectorLanesGiveTheSameBits).
/// </summary>
/// <remarks>
/// Why: σ and tanh are chains of some twenty dependent operations (about 70 cycles from input to result for σ on
/// AVX2), and the LSTM loop body holds about a hundred operations per vector, more than the processor's out-of-order
/// window overlaps across iterations: the cell ran at about 95 cycles per 8-lane vector where its arithmetic needs
/// about 35. Here every step of an activation is written for four vectors before the next, so four chains are in
/// flight at once, and each gate is a pass of its own over the rows, followed by the state update. One thread, hot
/// cache, with biases, one-vector → four-vector: LSTM B16 H64 3.40 → 2.81 µs, H256 14.1 → 11.3 µs, B1 H128 0.73 →
/// 0.35 µs; GRU B16 H64 2.39 → 1.85 µs, H256 9.07 → 6.88 µs. Inside a training step the cell is a small share
/// (config a's forward pass 2–5% faster, its step 1–2%; b's inference about 1%). Each pass is a method of its own: the
/// whole cell in one method ran out of the JIT's inlining budget, and its vector operations became calls (3.5× slower);
/// a generic four-vector struct in place of TV, which would have spared writing σ, tanh and e^x for four, compiled to
/// code no faster than the one-vector loop.
/// </remarks>
internal static unsafe partial class FusedCells
{
    /// <summary>Tests turn the four-vector passes off to compare their bits with the one-vector loops'.</summary>
    internal static bool FourVectorLanes = true;

    /// <summary>Lanes of each row the four-vector passes cover: the largest multiple of 4·TV.Count in H (0 when off).</summary>
    private static int LockstepWidth<TV>(int H) where TV : struct, IFloatVector<TV> =>
        FourVectorLanes ? H - H % (4 * TV.Count) : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TV, TV, TV, TV) Sigmoid4<TV>(TV x0, TV x1, TV x2, TV x3) where TV : struct, IFloatVector<TV>
    {
        (x0, x1, x2, x3) = FastExp.Exp4(TV.Subtract(TV.Zero, x0), TV.Subtract(TV.Zero, x1), TV.Subtract(TV.Zero, x2), TV.Subtract(TV.Zero, x3));
        TV one = TV.Broadcast(1f);
        return (TV.Divide(one, TV.Add(one, x0)), TV.Divide(one, TV.Add(one, x1)), TV.Divide(one, TV.Add(one, x2)), TV.Divide(one, TV.Add(one, x3)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (TV, TV, TV, TV) Tanh4<TV>(TV x0, TV x1, TV x2, TV x3) where TV : struct, IFloatVector<TV>
    {
        TV low = TV.Broadcast(-TanhClamp), high = TV.Broadcast(TanhClamp);
        x0 = TV.Clamp(x0, low, high); x1 = TV.Clamp(x1, low, high); x2 = TV.Clamp(x2, low, high); x3 = TV.Clamp(x3, low, high);
        TV s0 = TV.Multiply(x0, x0), s1 = TV.Multiply(x1, x1), s2 = TV.Multiply(x2, x2), s3 = TV.Multiply(x3, x3);
        TV a = TV.Broadcast(TanhP4), c = TV.Broadcast(TanhP3);
        TV p0 = TV.FusedMultiplyAdd(a, s0, c), p1 = TV.FusedMultiplyAdd(a, s1, c), p2 = TV.FusedMultiplyAdd(a, s2, c), p3 = TV.FusedMultiplyAdd(a, s3, c);
        c = TV.Broadcast(TanhP2);
        p0 = TV.FusedMultiplyAdd(p0, s0, c); p1 = TV.FusedMultiplyAdd(p1, s1, c); p2 = TV.FusedMultiplyAdd(p2, s2, c); p3 = TV.FusedMultiplyAdd(p3, s3, c);
        c = TV.Broadcast(TanhP1);
        p0 = TV.FusedMultiplyAdd(p0, s0, c); p1 = TV.FusedMultiplyAdd(p1, s1, c); p2 = TV.FusedMultiplyAdd(p2, s2, c); p3 = TV.FusedMultiplyAdd(p3, s3, c);
        TV one = TV.Broadcast(1f);
        p0 = TV.FusedMultiplyAdd(p0, s0, one); p1 = TV.FusedMultiplyAdd(p1, s1, one); p2 = TV.FusedMultiplyAdd(p2, s2, one); p3 = TV.FusedMultiplyAdd(p3, s3, one);
        a = TV.Broadcast(TanhQ4);
        c = TV.Broadcast(TanhQ3);
        TV q0 = TV.FusedMultiplyAdd(a, s0, c), q1 = TV.FusedMultiplyAdd(a, s1, c), q2 = TV.FusedMultiplyAdd(a, s2, c), q3 = TV.FusedMultiplyAdd(a, s3, c);
        c = TV.Broadcast(TanhQ2);
        q0 = TV.FusedMultiplyAdd(q0, s0, c); q1 = TV.FusedMultiplyAdd(q1, s1, c); q2 = TV.FusedMultiplyAdd(q2, s2, c); q3 = TV.FusedMultiplyAdd(q3, s3, c);
        c = TV.Broadcast(TanhQ1);
        q0 = TV.FusedMultiplyAdd(q0, s0, c); q1 = TV.FusedMultiplyAdd(q1, s1, c); q2 = TV.FusedMultiplyAdd(q2, s2, c); q3 = TV.FusedMultiplyAdd(q3, s3, c);
        q0 = TV.FusedMultiplyAdd(q0, s0, one); q1 = TV.FusedMultiplyAdd(q1, s1, one); q2 = TV.FusedMultiplyAdd(q2, s2, one); q3 = TV.FusedMultiplyAdd(q3, s3, one);
        return (TV.Divide(TV.Multiply(x0, p0), q0), TV.Divide(TV.Multiply(x1, p1), q1), TV.Divide(TV.Multiply(x2, p2), q2), TV.Divide(TV.Multiply(x3, p3), q3));
    }

    /// <summary>
    /// Lanes [0, wide) of gate <paramref name="gate"/> for rows [b0, b0 + rows), each row <paramref name="gates"/>·H
    /// wide in xGates and hGates and <paramref name="savedWidth"/>·H in saved: saved[b, gate·H + j] = σ, or tanh when
    /// <paramref name="tanh"/>, of (xGates + b_ih) + (hGates + b_hh) there, each bias row optional.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ActivateGate<TV>(bool tanh, int b0, int rows, int H, int wide, int gates, int gate, float* xGates, float* xBias,
        float* hGates, float* hBias, float* saved, int savedWidth) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int b = b0; b < b0 + rows; b++)
        {
            float* xg = xGates + (nint)b * gates * H, hg = hGates + (nint)b * gates * H, act = saved + (nint)b * savedWidth * H + gate * H;
            for (int j = 0; j < wide; j += 4 * w)
            {
                nint k = gate * H + j;
                TV a0 = TV.Add(WithBias<TV>(xg, xBias, k), WithBias<TV>(hg, hBias, k));
                TV a1 = TV.Add(WithBias<TV>(xg, xBias, k + w), WithBias<TV>(hg, hBias, k + w));
                TV a2 = TV.Add(WithBias<TV>(xg, xBias, k + 2 * w), WithBias<TV>(hg, hBias, k + 2 * w));
                TV a3 = TV.Add(WithBias<TV>(xg, xBias, k + 3 * w), WithBias<TV>(hg, hBias, k + 3 * w));
                (a0, a1, a2, a3) = tanh ? Tanh4(a0, a1, a2, a3) : Sigmoid4(a0, a1, a2, a3);
                Store4(a0, a1, a2, a3, act + j);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4<TV>(TV v0, TV v1, TV v2, TV v3, float* destination) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        TV.Store(v0, destination);
        TV.Store(v1, destination + w);
        TV.Store(v2, destination + 2 * w);
        TV.Store(v3, destination + 3 * w);
    }

    /// <summary>
    /// The LSTM forward step on lanes [0, wide) of rows [b0, b0 + rows): i, f, g, o into saved, then
    /// <see cref="LstmUpdateState"/>.
    /// </summary>
    private static void LstmForwardInLockstep<TV>(int b0, int rows, int H, int wide, float* xGates, float* xBias, float* hGates, float* hBias,
        float* cPrev, float* saved, float* h, float* c) where TV : struct, IFloatVector<TV>
    {
        ActivateGate<TV>(false, b0, rows, H, wide, 4, 0, xGates, xBias, hGates, hBias, saved, 5);
        ActivateGate<TV>(false, b0, rows, H, wide, 4, 1, xGates, xBias, hGates, hBias, saved, 5);
        ActivateGate<TV>(true, b0, rows, H, wide, 4, 2, xGates, xBias, hGates, hBias, saved, 5);
        ActivateGate<TV>(false, b0, rows, H, wide, 4, 3, xGates, xBias, hGates, hBias, saved, 5);
        LstmUpdateState<TV>(b0, rows, H, wide, cPrev, saved, h, c);
    }

    /// <summary>c = f·c_prev + i·g, tanh(c) into saved, h = o·tanh(c), on lanes [0, wide), from the saved gates.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void LstmUpdateState<TV>(int b0, int rows, int H, int wide, float* cPrev, float* saved, float* h, float* c)
        where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int b = b0; b < b0 + rows; b++)
        {
            float* act = saved + (nint)b * 5 * H, cp = cPrev + (nint)b * H, cr = c + (nint)b * H, hr = h + (nint)b * H;
            for (int j = 0; j < wide; j += 4 * w)
            {
                TV c0 = NewCell<TV>(act, cp, H, j), c1 = NewCell<TV>(act, cp, H, j + w), c2 = NewCell<TV>(act, cp, H, j + 2 * w), c3 = NewCell<TV>(act, cp, H, j + 3 * w);
                Store4(c0, c1, c2, c3, cr + j);
                var (t0, t1, t2, t3) = Tanh4(c0, c1, c2, c3);
                Store4(t0, t1, t2, t3, act + 4 * H + j);
                float* o = act + 3 * H + j;
                Store4(TV.Multiply(TV.Load(o), t0), TV.Multiply(TV.Load(o + w), t1), TV.Multiply(TV.Load(o + 2 * w), t2), TV.Multiply(TV.Load(o + 3 * w), t3), hr + j);
            }
        }
    }

    /// <summary>f·c_prev + i·g at lane j from the saved gates, as the one-vector loop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV NewCell<TV>(float* act, float* cp, int H, int j) where TV : struct, IFloatVector<TV> =>
        TV.FusedMultiplyAdd(TV.Load(act + H + j), TV.Load(cp + j), TV.Multiply(TV.Load(act + j), TV.Load(act + 2 * H + j)));

    /// <summary>
    /// The GRU forward step on lanes [0, wide) of rows [b0, b0 + rows): r and z into saved, then
    /// <see cref="GruUpdateState"/>.
    /// </summary>
    private static void GruForwardInLockstep<TV>(int b0, int rows, int H, int wide, float* xGates, float* xBias, float* hGates, float* hBias,
        float* hPrev, float* saved, float* h) where TV : struct, IFloatVector<TV>
    {
        ActivateGate<TV>(false, b0, rows, H, wide, 3, 0, xGates, xBias, hGates, hBias, saved, 4);
        ActivateGate<TV>(false, b0, rows, H, wide, 3, 1, xGates, xBias, hGates, hBias, saved, 4);
        GruUpdateState<TV>(b0, rows, H, wide, xGates, xBias, hGates, hBias, hPrev, saved, h);
    }

    /// <summary>
    /// hn = hGates + b_hh and n = tanh((xGates + b_ih) + r·hn) of the candidate gate into saved, h = z·(h_prev − n) + n,
    /// on lanes [0, wide), from the saved r and z.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void GruUpdateState<TV>(int b0, int rows, int H, int wide, float* xGates, float* xBias, float* hGates, float* hBias,
        float* hPrev, float* saved, float* h) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        for (int b = b0; b < b0 + rows; b++)
        {
            float* xg = xGates + (nint)b * 3 * H, hg = hGates + (nint)b * 3 * H, act = saved + (nint)b * 4 * H;
            float* hp = hPrev + (nint)b * H, hr = h + (nint)b * H;
            for (int j = 0; j < wide; j += 4 * w)
            {
                nint k = 2 * H + j;
                TV hn0 = WithBias<TV>(hg, hBias, k), hn1 = WithBias<TV>(hg, hBias, k + w), hn2 = WithBias<TV>(hg, hBias, k + 2 * w), hn3 = WithBias<TV>(hg, hBias, k + 3 * w);
                Store4(hn0, hn1, hn2, hn3, act + 3 * H + j);
                var (n0, n1, n2, n3) = Tanh4(
                    TV.FusedMultiplyAdd(TV.Load(act + j), hn0, WithBias<TV>(xg, xBias, k)),
                    TV.FusedMultiplyAdd(TV.Load(act + j + w), hn1, WithBias<TV>(xg, xBias, k + w)),
                    TV.FusedMultiplyAdd(TV.Load(act + j + 2 * w), hn2, WithBias<TV>(xg, xBias, k + 2 * w)),
                    TV.FusedMultiplyAdd(TV.Load(act + j + 3 * w), hn3, WithBias<TV>(xg, xBias, k + 3 * w)));
                Store4(n0, n1, n2, n3, act + 2 * H + j);
                float* z = act + H + j;
                Store4(TV.FusedMultiplyAdd(TV.Load(z), TV.Subtract(TV.Load(hp + j), n0), n0),
                    TV.FusedMultiplyAdd(TV.Load(z + w), TV.Subtract(TV.Load(hp + j + w), n1), n1),
                    TV.FusedMultiplyAdd(TV.Load(z + 2 * w), TV.Subtract(TV.Load(hp + j + 2 * w), n2), n2),
                    TV.FusedMultiplyAdd(TV.Load(z + 3 * w), TV.Subtract(TV.Load(hp + j + 3 * w), n3), n3), hr + j);
            }
        }
    }
}
