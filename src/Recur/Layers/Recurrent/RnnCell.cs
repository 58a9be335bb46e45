using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Elman recurrent cell with tanh, as PyTorch's <c>nn.RNN</c>:
/// <code>h = tanh(x·W_ihᵀ + b_ih + h_prev·W_hhᵀ + b_hh)</code>
/// Saved per unit (S = 1): h.
/// </summary>
public readonly struct RnnCell : IRecurrentCell
{
    public static int GateCount => 1;
    public static bool HasCellState => false;
    public static int SavedWidth => 1;
    public static bool SharesGateGradient => true;
    public static bool[] TanhGates { get; } = [true];
    public static string DisplayName => "RNN";

    /// <summary>One step forward; float32 runs the fused SIMD kernel (<see cref="FusedCells"/>), other types the reference.</summary>
    public static void Forward<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) FusedCells.RnnForward(GemmIsa.Auto, 0, batch, hidden, F(xGates), F(xBias), F(hGates), F(saved), F(h), F(hBias));
        else ForwardReference(batch, hidden, xGates, xBias, hGates, hPrev, cPrev, saved, h, c, hBias);
    }

    /// <summary>The plain (generic) step forward the fused float32 kernel is held to.</summary>
    public static void ForwardReference<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>
    {
        int n = batch * hidden;
        var hOut = h[..n];
        xGates[..n].CopyTo(hOut);
        if (!xBias.IsEmpty)
            for (int b = 0; b < batch; b++) TensorPrimitives.Add(hOut.Slice(b * hidden, hidden), xBias[..hidden], hOut.Slice(b * hidden, hidden));
        for (int b = 0; b < batch; b++)
            Rows.AddBiased(hOut.Slice(b * hidden, hidden), hGates.Slice(b * hidden, hidden), hBias.IsEmpty ? [] : hBias[..hidden], hOut.Slice(b * hidden, hidden));
        Elementwise.Tanh<T>(hOut, hOut);
        hOut.CopyTo(saved);
    }

    /// <summary>One step backward; float32 runs the fused SIMD kernel (<see cref="FusedCells"/>), other types the reference.</summary>
    public static void Backward<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) FusedCells.RnnBackward(GemmIsa.Auto, 0, batch, hidden, F(saved), F(dh), F(dXGates), F(dhPrev));
        else BackwardReference(batch, hidden, saved, hPrev, cPrev, dh, dc, dXGates, dHGates, dhPrev, dcPrev);
    }

    /// <summary>The plain (generic) step backward the fused float32 kernel is held to.</summary>
    public static void BackwardReference<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>
    {
        int n = batch * hidden;
        dhPrev[..n].Clear(); // h_prev reaches the loss only through W_hh
        // h = tanh(a)  ⇒  da = dh ⊙ (1 − h²)
        for (int k = 0; k < n; k++) dXGates[k] = dh[k] * (T.One - saved[k] * saved[k]);
    }

    private static Span<float> F<T>(Span<T> s) where T : struct => MemoryMarshal.Cast<T, float>(s);
    private static ReadOnlySpan<float> F<T>(ReadOnlySpan<T> s) where T : struct => MemoryMarshal.Cast<T, float>(s);
}
