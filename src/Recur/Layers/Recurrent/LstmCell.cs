using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// Long short-term memory cell, PyTorch's formulation and gate order (i, f, g, o):
/// <code>
/// i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)      a = x·W_ihᵀ + b_ih + h_prev·W_hhᵀ + b_hh
/// c = f ⊙ c_prev + i ⊙ g
/// h = o ⊙ tanh(c)
/// </code>
/// Saved per unit (S = 5): i, f, g, o, tanh(c).
/// </summary>
public readonly struct LstmCell : IRecurrentCell
{
    public const int InputGate = 0, ForgetGate = 1, CellGate = 2, OutputGate = 3;
    private const int TanhC = 4;

    public static int GateCount => 4;
    public static bool HasCellState => true;
    public static int SavedWidth => 5;
    public static bool SharesGateGradient => true;
    public static bool[] TanhGates { get; } = [false, false, true, false];
    public static string DisplayName => "LSTM";

    /// <summary>One step forward; float32 runs the fused SIMD kernel (<see cref="FusedCells"/>), other types the reference.</summary>
    public static void Forward<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) FusedCells.LstmForward(GemmIsa.Auto, 0, batch, hidden, F(xGates), F(xBias), F(hGates), F(cPrev), F(saved), F(h), F(c), F(hBias));
        else ForwardReference(batch, hidden, xGates, xBias, hGates, hPrev, cPrev, saved, h, c, hBias);
    }

    /// <summary>The plain (generic) step forward the fused float32 kernel is held to.</summary>
    public static void ForwardReference<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>
    {
        int H = hidden, gateWidth = 4 * H;
        for (int b = 0; b < batch; b++)
        {
            var act = saved.Slice(b * 5 * H, 5 * H);
            var gates = act[..gateWidth];
            // a = (xGates + xBias) + (hGates + hBias), then the non-linearities in place: σ over (i, f), tanh over g, σ over o.
            var xRow = xGates.Slice(b * gateWidth, gateWidth);
            if (!xBias.IsEmpty)
            {
                TensorPrimitives.Add(xRow, xBias[..gateWidth], gates);
                xRow = gates;
            }
            Rows.AddBiased(xRow, hGates.Slice(b * gateWidth, gateWidth), hBias, gates);
            Elementwise.Sigmoid<T>(gates[..(2 * H)], gates[..(2 * H)]);
            Elementwise.Tanh<T>(gates.Slice(CellGate * H, H), gates.Slice(CellGate * H, H));
            Elementwise.Sigmoid<T>(gates.Slice(OutputGate * H, H), gates.Slice(OutputGate * H, H));

            var i = act.Slice(InputGate * H, H);
            var f = act.Slice(ForgetGate * H, H);
            var g = act.Slice(CellGate * H, H);
            var o = act.Slice(OutputGate * H, H);
            var tanhC = act.Slice(TanhC * H, H);
            var cRow = c.Slice(b * H, H);
            var hRow = h.Slice(b * H, H);
            // c = f ⊙ c_prev + i ⊙ g
            TensorPrimitives.Multiply(i, g, cRow);
            TensorPrimitives.FusedMultiplyAdd(f, cPrev.Slice(b * H, H), cRow, cRow);
            // h = o ⊙ tanh(c)
            Elementwise.Tanh<T>(cRow, tanhC);
            TensorPrimitives.Multiply(o, tanhC, hRow);
        }
    }

    /// <summary>One step backward; float32 runs the fused SIMD kernel (<see cref="FusedCells"/>), other types the reference.</summary>
    public static void Backward<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) FusedCells.LstmBackward(GemmIsa.Auto, 0, batch, hidden, F(saved), F(cPrev), F(dh), F(dc), F(dXGates), F(dhPrev), F(dcPrev));
        else BackwardReference(batch, hidden, saved, hPrev, cPrev, dh, dc, dXGates, dHGates, dhPrev, dcPrev);
    }

    /// <summary>The plain (generic) step backward the fused float32 kernel is held to.</summary>
    public static void BackwardReference<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>
    {
        int H = hidden, gateWidth = 4 * H;
        dhPrev[..(batch * H)].Clear(); // h_prev reaches the loss only through W_hh
        for (int b = 0; b < batch; b++)
        {
            var act = saved.Slice(b * 5 * H, 5 * H);
            var da = dXGates.Slice(b * gateWidth, gateWidth);
            for (int j = 0; j < H; j++)
            {
                T i = act[InputGate * H + j], f = act[ForgetGate * H + j], g = act[CellGate * H + j];
                T o = act[OutputGate * H + j], tanhC = act[TanhC * H + j];
                T dhj = dh[b * H + j];
                // h = o ⊙ tanh(c)  ⇒  dc += dh ⊙ o ⊙ (1 − tanh²c),  do = dh ⊙ tanh(c)
                T dcj = dc[b * H + j] + dhj * o * (T.One - tanhC * tanhC);
                T dO = dhj * tanhC;
                // c = f ⊙ c_prev + i ⊙ g
                T dI = dcj * g, dF = dcj * cPrev[b * H + j], dG = dcj * i;
                dcPrev[b * H + j] = dcj * f;
                // through the non-linearities, from their saved outputs: σ' = y(1 − y), tanh' = 1 − y²
                da[InputGate * H + j] = dI * i * (T.One - i);
                da[ForgetGate * H + j] = dF * f * (T.One - f);
                da[CellGate * H + j] = dG * (T.One - g * g);
                da[OutputGate * H + j] = dO * o * (T.One - o);
            }
        }
    }

    /// <summary>
    /// One step of the layer-normalised LSTM: as <see cref="Forward"/>, but h = o ⊙ tanh(y) with
    /// y = γ ⊙ ĉ + β, ĉ = LN(c) over the H units of each sequence (c itself is the carried state). The TanhC saved
    /// slot holds tanh(y); ĉ: [B, H] and 1/σ: [B] are written for the backward step. float32 runs the fused SIMD
    /// kernel (<see cref="FusedCells"/>), other types the reference.
    /// </summary>
    public static void ForwardLayerNorm<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> hGates, ReadOnlySpan<T> cPrev, Span<T> saved, Span<T> h, Span<T> c,
        ReadOnlySpan<T> gain, ReadOnlySpan<T> bias, Span<T> normalized, Span<T> rstd)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            FusedCells.LstmLayerNormForward(GemmIsa.Auto, 0, batch, hidden, F(xGates), F(hGates), F(cPrev), F(saved), F(h), F(c),
                F(gain), F(bias), F(normalized), F(rstd));
        else ForwardLayerNormReference(batch, hidden, xGates, hGates, cPrev, saved, h, c, gain, bias, normalized, rstd);
    }

    /// <summary>The plain (generic) <see cref="ForwardLayerNorm"/> the fused float32 kernel is held to.</summary>
    public static void ForwardLayerNormReference<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> hGates, ReadOnlySpan<T> cPrev, Span<T> saved, Span<T> h, Span<T> c,
        ReadOnlySpan<T> gain, ReadOnlySpan<T> bias, Span<T> normalized, Span<T> rstd)
        where T : struct, IFloatingPointIeee754<T>
    {
        int H = hidden, gateWidth = 4 * H;
        for (int b = 0; b < batch; b++)
        {
            var act = saved.Slice(b * 5 * H, 5 * H);
            var gates = act[..gateWidth];
            TensorPrimitives.Add(xGates.Slice(b * gateWidth, gateWidth), hGates.Slice(b * gateWidth, gateWidth), gates);
            Elementwise.Sigmoid<T>(gates[..(2 * H)], gates[..(2 * H)]);
            Elementwise.Tanh<T>(gates.Slice(CellGate * H, H), gates.Slice(CellGate * H, H));
            Elementwise.Sigmoid<T>(gates.Slice(OutputGate * H, H), gates.Slice(OutputGate * H, H));
            var cRow = c.Slice(b * H, H);
            TensorPrimitives.Multiply(act.Slice(InputGate * H, H), act.Slice(CellGate * H, H), cRow);
            TensorPrimitives.FusedMultiplyAdd(act.Slice(ForgetGate * H, H), cPrev.Slice(b * H, H), cRow, cRow);
            var y = act.Slice(TanhC * H, H);
            RowLayerNorm<T>.ForwardReference(1, H, cRow, gain, bias, [], y, normalized.Slice(b * H, H), rstd.Slice(b, 1));
            Elementwise.Tanh<T>(y, y);
            TensorPrimitives.Multiply(act.Slice(OutputGate * H, H), y, h.Slice(b * H, H));
        }
    }

    /// <summary>
    /// Backward of <see cref="ForwardLayerNorm"/>: as <see cref="Backward"/> (dhPrev is zero for LSTM), and adds
    /// into dGain, dBias: [H]. Sequences with lengths[b] ≤ step (padding; empty lengths: none) are skipped: they
    /// add nothing and their rows of dXGates, dcPrev are left for the caller's carry. float32 runs the fused SIMD
    /// kernel (<see cref="FusedCells"/>), other types the reference.
    /// </summary>
    public static void BackwardLayerNorm<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        ReadOnlySpan<T> normalized, ReadOnlySpan<T> rstd, ReadOnlySpan<T> gain,
        Span<T> dXGates, Span<T> dhPrev, Span<T> dcPrev, Span<T> dGain, Span<T> dBias,
        ReadOnlySpan<int> lengths = default, int step = 0)
        where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            FusedCells.LstmLayerNormBackward(GemmIsa.Auto, 0, batch, hidden, F(saved), F(cPrev), F(dh), F(dc), F(normalized), F(rstd),
                F(gain), F(dXGates), F(dhPrev), F(dcPrev), F(dGain), F(dBias), lengths, step);
        else BackwardLayerNormReference(batch, hidden, saved, cPrev, dh, dc, normalized, rstd, gain, dXGates, dhPrev, dcPrev, dGain, dBias, lengths, step);
    }

    /// <summary>The plain (generic) <see cref="BackwardLayerNorm"/> the fused float32 kernel is held to.</summary>
    public static void BackwardLayerNormReference<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        ReadOnlySpan<T> normalized, ReadOnlySpan<T> rstd, ReadOnlySpan<T> gain,
        Span<T> dXGates, Span<T> dhPrev, Span<T> dcPrev, Span<T> dGain, Span<T> dBias,
        ReadOnlySpan<int> lengths = default, int step = 0)
        where T : struct, IFloatingPointIeee754<T>
    {
        int H = hidden, gateWidth = 4 * H;
        T count = T.CreateChecked(H);
        dhPrev[..(batch * H)].Clear();
        for (int b = 0; b < batch; b++)
        {
            if (!lengths.IsEmpty && step >= lengths[b]) continue;
            var act = saved.Slice(b * 5 * H, 5 * H);
            var da = dXGates.Slice(b * gateWidth, gateWidth);
            var cHat = normalized.Slice(b * H, H);
            // y = γ ⊙ ĉ + β, h = o ⊙ tanh(y): dy = dh ⊙ o ⊙ (1 − tanh²y); first the row sums LN's backward needs
            T sum = T.Zero, dot = T.Zero;
            for (int j = 0; j < H; j++)
            {
                T o = act[OutputGate * H + j], ty = act[TanhC * H + j];
                T dy = dh[b * H + j] * o * (T.One - ty * ty);
                dGain[j] += dy * cHat[j];
                dBias[j] += dy;
                T dcHat = dy * gain[j];
                sum += dcHat;
                dot += dcHat * cHat[j];
            }
            T meanD = sum / count, meanDot = dot / count, inv = rstd[b];
            for (int j = 0; j < H; j++)
            {
                T i = act[InputGate * H + j], f = act[ForgetGate * H + j], g = act[CellGate * H + j];
                T o = act[OutputGate * H + j], ty = act[TanhC * H + j];
                T dhj = dh[b * H + j];
                T dcHat = dhj * o * (T.One - ty * ty) * gain[j];
                T dcj = dc[b * H + j] + inv * (dcHat - meanD - cHat[j] * meanDot);
                T dO = dhj * ty;
                T dI = dcj * g, dF = dcj * cPrev[b * H + j], dG = dcj * i;
                dcPrev[b * H + j] = dcj * f;
                da[InputGate * H + j] = dI * i * (T.One - i);
                da[ForgetGate * H + j] = dF * f * (T.One - f);
                da[CellGate * H + j] = dG * (T.One - g * g);
                da[OutputGate * H + j] = dO * o * (T.One - o);
            }
        }
    }

    private static Span<float> F<T>(Span<T> s) where T : struct => MemoryMarshal.Cast<T, float>(s);
    private static ReadOnlySpan<float> F<T>(ReadOnlySpan<T> s) where T : struct => MemoryMarshal.Cast<T, float>(s);
}
