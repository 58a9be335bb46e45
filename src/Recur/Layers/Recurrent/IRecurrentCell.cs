using System.Numerics;

namespace Recur.Layers.Recurrent;

/// <summary>
/// The per-step arithmetic of a recurrent cell; the shared time loop (<see cref="RecurrentLayerKernel{T, TCell}"/>)
/// does the matrix products. Cells hold no weights and no state: everything is passed in.
/// </summary>
/// <remarks>
/// Dimension letters, used in every recurrent kernel: T time steps, B batch, I input features, H hidden units,
/// G gates (4 LSTM, 3 GRU, 1 RNN), S saved values per unit (<see cref="SavedWidth"/>).
/// Pre-activations are split the way PyTorch computes them: xGates = x·W_ihᵀ + b_ih and
/// hGates = h_prev·W_hhᵀ + b_hh, each [B, G·H] with the gate blocks in PyTorch's order.
/// </remarks>
public interface IRecurrentCell
{
    /// <summary>G: gate blocks in W_ih and W_hh.</summary>
    static abstract int GateCount { get; }

    /// <summary>Whether the cell carries a second state c (LSTM).</summary>
    static abstract bool HasCellState { get; }

    /// <summary>S: values per hidden unit the forward step saves for the backward step.</summary>
    static abstract int SavedWidth { get; }

    /// <summary>
    /// Whether dL/d(xGates) equals dL/d(hGates) (LSTM, RNN), so one gradient buffer serves both products. GRU's
    /// differ because the reset gate multiplies only the recurrent part of the candidate.
    /// </summary>
    static abstract bool SharesGateGradient { get; }

    /// <summary>
    /// Which of the first G saved slots hold tanh outputs (the others hold sigmoid outputs), for measuring how many
    /// gates are saturated.
    /// </summary>
    static abstract bool[] TanhGates { get; }

    /// <summary>PyTorch's module name, used in descriptions (<c>LSTM</c>, <c>GRU</c>, <c>RNN</c>).</summary>
    static abstract string DisplayName { get; }

    /// <summary>
    /// One step forward. xGates, hGates: [B, G·H]; xBias: [G·H] added to every row of xGates first (b_ih, so
    /// the layer need not add it in a pass over all steps' xGates), or empty when xGates already hold it; hBias
    /// likewise added to hGates (b_hh, so the layer need not copy it into every row before each step's product), or
    /// empty; hPrev, cPrev: [B, H] (cPrev empty without cell state); writes saved: [B, S·H], h: [B, H], c: [B, H].
    /// The pre-activations are (xGates + xBias) + (hGates + hBias).
    /// </summary>
    static abstract void Forward<T>(int batch, int hidden,
        ReadOnlySpan<T> xGates, ReadOnlySpan<T> xBias, ReadOnlySpan<T> hGates, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev,
        Span<T> saved, Span<T> h, Span<T> c, ReadOnlySpan<T> hBias = default)
        where T : struct, IFloatingPointIeee754<T>;

    /// <summary>
    /// One step backward. dh, dc: [B, H] total gradients reaching h_t and c_t; saved as written by Forward;
    /// hPrev, cPrev: [B, H]. Writes (overwrites) dXGates, dHGates: [B, G·H] (dHGates is the same span as dXGates
    /// when <see cref="SharesGateGradient"/>), dhPrev: [B, H] the part of dL/dh_prev that does not flow through
    /// W_hh, and dcPrev: [B, H].
    /// </summary>
    static abstract void Backward<T>(int batch, int hidden,
        ReadOnlySpan<T> saved, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dh, ReadOnlySpan<T> dc,
        Span<T> dXGates, Span<T> dHGates, Span<T> dhPrev, Span<T> dcPrev)
        where T : struct, IFloatingPointIeee754<T>;
}
