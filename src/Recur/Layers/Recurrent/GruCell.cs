using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Gated recurrent unit, PyTorch's (and cuDNN's) formulation and gate order (r, z, n), with the reset gate applied
/// after the recurrent product:
/// <code>
/// r = σ(x_r + h_r)    z = σ(x_z + h_z)      x_* = x·W_i*ᵀ + b_i*,  h_* = h_prev·W_h*ᵀ + b_h*
/// n = tanh(x_n + r ⊙ h_n)
/// h = (1 − z) ⊙ n + z ⊙ h_prev
/// </code>
/// Saved per unit (S = 4): r, z, n, h_n.
/// </summary>
public readonly struct GruCell : IRecurrentCell
{
    public const int ResetGate = 0, UpdateGate = 1, NewGate = 2;
    private const int RecurrentNew = 3;

    public static int GateCount => 3;
    public static bool HasCellState => false;
    public static int SavedWidth => 4;
    public static bool SharesGateGradient => false;
    public static bool[] TanhGates { get; } = [false, false, true];
    public static string DisplayName => "GRU";

    /// <summary>One step forward; float32 runs the fused SIMD kernel (<see cref="FusedCells"/>), other types the reference.</summary>
    public static void Forward<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) FusedCells.GruForward(GemmIsa.Auto, 0, batch, hidden, F(xGates), F(xBias), F(hGates), F(hPrev), F(saved), F(h), F(hBias));
        else ForwardReference(batch, hidden, xGates, xBias, hGates, hPrev, cPrev, saved, h, c, hBias);
    }

    /// <summary>The plain (generic) step forward the fused float32 kernel is held to.</summary>
    public static void ForwardReference<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>
    {
        int H = hidden, gateWidth = 3 * H;
        for (int b = 0; b < batch; b++)
        {
            var xg = xGates.Slice(b * gateWidth, gateWidth);
            var hg = hGates.Slice(b * gateWidth, gateWidth);
            var act = saved.Slice(b * 4 * H, 4 * H);
            var rz = act[..(2 * H)];
            var r = act.Slice(ResetGate * H, H);
            var z = act.Slice(UpdateGate * H, H);
            var n = act.Slice(NewGate * H, H);
            var hn = act.Slice(RecurrentNew * H, H);
            // r, z = σ((x_rz + b_ih,rz) + (h_rz + b_hh,rz)), the input bias (when given) added first, in the slots themselves
            ReadOnlySpan<T> xrz = xg[..(2 * H)];
            if (!xBias.IsEmpty)
            {
                TensorPrimitives.Add(xrz, xBias[..(2 * H)], rz);
                xrz = rz;
            }
            Rows.AddBiased(xrz, hg[..(2 * H)], hBias.IsEmpty ? [] : hBias[..(2 * H)], rz);
            Elementwise.Sigmoid<T>(rz, rz);
            // n = tanh((x_n + b_ih,n) + r ⊙ (h_n + b_hh,n))
            ReadOnlySpan<T> xn = xg.Slice(NewGate * H, H);
            if (!xBias.IsEmpty)
            {
                TensorPrimitives.Add(xn, xBias.Slice(NewGate * H, H), n);
                xn = n;
            }
            if (hBias.IsEmpty) hg.Slice(NewGate * H, H).CopyTo(hn);
            else TensorPrimitives.Add(hg.Slice(NewGate * H, H), hBias.Slice(NewGate * H, H), hn);
            TensorPrimitives.FusedMultiplyAdd(r, hn, xn, n);
            Elementwise.Tanh<T>(n, n);
            // h = n + z ⊙ (h_prev − n)
            var hRow = h.Slice(b * H, H);
            TensorPrimitives.Subtract(hPrev.Slice(b * H, H), n, hRow);
            TensorPrimitives.FusedMultiplyAdd(z, hRow, n, hRow);
        }
    }

    /// <summary>One step backward; float32 runs the fused SIMD kernel (<see cref="FusedCells"/>), other types the reference.</summary>
    public static void Backward<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) FusedCells.GruBackward(GemmIsa.Auto, 0, batch, hidden, F(saved), F(hPrev), F(dh), F(dXGates), F(dHGates), F(dhPrev));
        else BackwardReference(batch, hidden, saved, hPrev, cPrev, dh, dc, dXGates, dHGates, dhPrev, dcPrev);
    }

    /// <summary>The plain (generic) step backward the fused float32 kernel is held to.</summary>
    public static void BackwardReference<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>
    {
        int H = hidden, gateWidth = 3 * H;
        for (int b = 0; b < batch; b++)
        {
            var act = saved.Slice(b * 4 * H, 4 * H);
            var dx = dXGates.Slice(b * gateWidth, gateWidth);
            var dhg = dHGates.Slice(b * gateWidth, gateWidth);
            for (int j = 0; j < H; j++)
            {
                T r = act[ResetGate * H + j], z = act[UpdateGate * H + j];
                T n = act[NewGate * H + j], hn = act[RecurrentNew * H + j];
                T dhj = dh[b * H + j], hp = hPrev[b * H + j];
                // h = (1 − z) ⊙ n + z ⊙ h_prev
                T dn = dhj * (T.One - z);
                T dz = dhj * (hp - n);
                dhPrev[b * H + j] = dhj * z;
                // n = tanh(x_n + r ⊙ h_n)
                T dan = dn * (T.One - n * n);
                T dr = dan * hn;
                // r, z = σ(·)
                T dar = dr * r * (T.One - r);
                T daz = dz * z * (T.One - z);
                dx[ResetGate * H + j] = dar;
                dx[UpdateGate * H + j] = daz;
                dx[NewGate * H + j] = dan;
                dhg[ResetGate * H + j] = dar;
                dhg[UpdateGate * H + j] = daz;
                dhg[NewGate * H + j] = dan * r;
            }
        }
    }

    private static Span<float> F<T>(Span<T> s) where T : struct => MemoryMarshal.Cast<T, float>(s);
    private static ReadOnlySpan<float> F<T>(ReadOnlySpan<T> s) where T : struct => MemoryMarshal.Cast<T, float>(s);
}
