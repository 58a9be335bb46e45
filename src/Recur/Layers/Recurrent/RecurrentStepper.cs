using System.Numerics.Tensors;
using Recur.Layers;
using Recur.Tensors;

namespace Recur.Layers.Recurrent;

/// <summary>
/// One time step of a unidirectional recurrent stack for one sequence (batch 1), float32: streaming inference,
/// where every call brings one step and the state is carried from call to call. It makes the same kernel calls, with
/// the same sizes, as <see cref="RecurrentLayerKernel{T, TCell}.Forward"/> over one step of batch 1 (input
/// product, bias, single-row recurrent product on W_hh as stored, layer norm, the cell, zoneout's expectation), so
/// its results are bit-identical to that path's; it only leaves out what a whole-sequence pass needs: the [T, B, ·]
/// layout swaps, the caches for backward and the tape. Holds its one-step scratch, so it allocates nothing per step;
/// one instance serves one thread at a time.
/// </summary>
internal abstract class RecurrentStepper
{
    /// <summary>I: features of the first layer's input.</summary>
    public abstract int InputSize { get; }

    /// <summary>H: hidden units of every layer (and width of the output).</summary>
    public abstract int HiddenSize { get; }

    /// <summary>L: stacked layers.</summary>
    public abstract int Layers { get; }

    /// <summary>Whether the cell carries c besides h (LSTM).</summary>
    public abstract bool HasCellState { get; }

    /// <summary>
    /// Advances the state one step. x: [I]; hidden, cell: [L, H] the state h, c of every layer, updated in place
    /// (cell empty without cell state). Returns the last layer's output [H] (residual sum included), a view of
    /// <paramref name="hidden"/> or of this stepper's scratch, valid until the next step.
    /// </summary>
    public abstract ReadOnlySpan<float> Step(ReadOnlySpan<float> x, Span<float> hidden, Span<float> cell);
}

/// <inheritdoc cref="RecurrentStepper"/>
internal sealed class RecurrentStepper<TCell> : RecurrentStepper where TCell : IRecurrentCell
{
    private readonly IReadOnlyList<RecurrentLayerWeights<float>> _layers;
    private readonly bool _residual;
    private readonly IRecurrentLayer _module;

    // One step's scratch, shared by the layers in turn.
    private readonly float[] _xGates, _hGates;      // [G·H] the two pre-activation halves
    private readonly float[] _gateNorm;             // [G·H] layer norm's x̂ (not read back at inference)
    private readonly float[] _cellNorm;             // [H] LN_c's ĉ (LSTM with layer norm)
    private readonly float[] _rstd = new float[1];  // [1] layer norm's 1/σ
    private readonly float[] _saved;                // [S·H] the cell's saved activations (not read back at inference)
    private readonly float[] _hNext, _cNext;        // [H] the cell's update before zoneout
    private readonly float[] _residualOutput;       // [H] h + input of a residual layer

    /// <summary>
    /// layers: one weight set per layer (live arrays: later weight changes are seen); residual: layer l ≥ 1 adds its
    /// input to its output (<see cref="DeepRecurrentKernel{T, TCell}.HasResidual"/>); module: the stack, whose
    /// <see cref="IRecurrentLayer.Regularization"/> is read at every step for zoneout ζ, applied as its expectation
    /// h = ζ·h_prev + (1 − ζ)·h̃ (and likewise c), as the layer kernel at inference.
    /// </summary>
    public RecurrentStepper(IReadOnlyList<RecurrentLayerWeights<float>> layers, bool residual, IRecurrentLayer module)
    {
        if (layers.Count == 0) throw new ArgumentException("A recurrent stack needs at least one layer.", nameof(layers));
        _layers = layers;
        _residual = residual;
        _module = module;
        int H = layers[0].HiddenSize, GH = TCell.GateCount * H;
        (_xGates, _hGates, _gateNorm) = (new float[GH], new float[GH], new float[GH]);
        _cellNorm = new float[H];
        _saved = new float[TCell.SavedWidth * H];
        (_hNext, _cNext, _residualOutput) = (new float[H], new float[H], new float[H]);
    }

    public override int InputSize => _layers[0].InputSize;
    public override int HiddenSize => _layers[0].HiddenSize;
    public override int Layers => _layers.Count;
    public override bool HasCellState => TCell.HasCellState;

    public override ReadOnlySpan<float> Step(ReadOnlySpan<float> x, Span<float> hidden, Span<float> cell)
    {
        int H = HiddenSize, GH = TCell.GateCount * H;
        float zoneout = (float)_module.Regularization.Zoneout; // as the layer kernel converts it
        ReadOnlySpan<float> input = x;
        for (int l = 0; l < _layers.Count; l++)
        {
            var w = _layers[l];
            var ln = w.LayerNorm;
            var h = hidden.Slice(l * H, H);
            var c = TCell.HasCellState ? cell.Slice(l * H, H) : [];

            // xGates = x·W_ihᵀ + b_ih  (layer norm: LN_ih(x·W_ihᵀ) + b_ih)   [1, G·H]
            Gemm.Multiply<float>(false, true, 1, GH, w.InputSize, input, w.InputWeights, _xGates, accumulate: false);
            if (ln is null) Rows.AddBias<float>(_xGates, w.InputBias);
            else RowLayerNorm<float>.Forward(1, GH, _xGates, ln.InputGain, ln.InputBias, w.InputBias, _xGates, _gateNorm, _rstd);

            // hGates = h_prev·W_hhᵀ + b_hh  (layer norm: LN_hh(h_prev·W_hhᵀ) + b_hh), W_hh read as stored   [1, G·H]
            if (ln is null)
            {
                w.RecurrentBias.CopyTo(_hGates, 0);
                Gemm.Multiply<float>(false, true, 1, GH, H, h, w.RecurrentWeights, _hGates, accumulate: true);
            }
            else
            {
                Gemm.Multiply<float>(false, true, 1, GH, H, h, w.RecurrentWeights, _hGates, accumulate: false);
                RowLayerNorm<float>.Forward(1, GH, _hGates, ln.RecurrentGain, ln.RecurrentBias, w.RecurrentBias, _hGates, _gateNorm, _rstd);
            }

            if (ln is not null && TCell.HasCellState)
                LstmCell.ForwardLayerNorm<float>(1, H, _xGates, _hGates, c, _saved, _hNext, _cNext, ln.CellGain, ln.CellBias, _cellNorm, _rstd);
            else
                TCell.Forward<float>(1, H, _xGates, [], _hGates, h, c, _saved, _hNext, TCell.HasCellState ? _cNext : []);

            if (zoneout != 0)
            {
                // h = ζ·h_prev + (1 − ζ)·h̃, likewise c (zoneout's expectation, as the layer kernel at inference)
                Zone(_hNext, h, zoneout);
                if (TCell.HasCellState) Zone(_cNext, c, zoneout);
            }
            _hNext.CopyTo(h);
            if (TCell.HasCellState) _cNext.CopyTo(c);

            if (_residual && DeepRecurrentKernel<float, TCell>.HasResidual(l))
            {
                TensorPrimitives.Add(h, input, _residualOutput); // input may be _residualOutput itself: element-wise
                input = _residualOutput;
            }
            else input = h;
        }
        return input;
    }

    /// <summary>next = ζ·prev + (1 − ζ)·next, element by element in the layer kernel's order of operations.</summary>
    private static void Zone(Span<float> next, ReadOnlySpan<float> prev, float zoneout)
    {
        for (int i = 0; i < next.Length; i++) next[i] = zoneout * prev[i] + (1f - zoneout) * next[i];
    }
}
