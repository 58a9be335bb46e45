using Recur.Autograd;
using Recur.Initialization;
using Recur.Randomness;

namespace Recur.Layers;

/// <summary>The cell types Recur builds, named as on the command line (<c>--cell lstm|gru|rnn</c>).</summary>
public enum CellKind { Lstm, Gru, Rnn }

/// <summary>A stacked recurrent layer of any cell type, for code that picks the cell at run time.</summary>
public interface IRecurrentLayer
{
    int InputSize { get; }
    int HiddenSize { get; }
    int NumLayers { get; }

    /// <summary>Bidirectional, dropout between layers, residual connections.</summary>
    RecurrentStackOptions Options { get; }

    /// <summary>1, or 2 when bidirectional: final states are [L·D, B, H].</summary>
    int Directions { get; }

    /// <summary>Width of each output step: D·H.</summary>
    int OutputSize { get; }
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>When set, every forward and backward pass records its gradient flow here.</summary>
    GradientFlowProbe? Probe { get; set; }

    /// <summary>
    /// Runs the stack over batch-major input [B, T, I] from optional initial states h0, c0 [L·D, B, H] to outputs
    /// [B, T, D·H]. With <paramref name="lengths"/> ([B], each in 0 … T; null or empty = all T) the sequences are
    /// right-padded, as PyTorch's <c>pack_padded_sequence</c>: outputs at padded steps are zero and the final states
    /// are those at each sequence's last real step. <paramref name="training"/>: the generator while training, from
    /// which the between-layer dropout masks and the <see cref="Regularization"/> masks are drawn (nothing is drawn
    /// for a rate of 0); null at inference: no dropout, and zoneout its expectation.
    /// </summary>
    RecurrentOutput Forward(Tape tape, Variable input, Variable? h0 = null, Variable? c0 = null, int[]? lengths = null,
        RecurRandom? training = null);

    /// <summary>Input dropout, recurrent dropout and zoneout rates; all 0 by default.</summary>
    RecurrentRegularization Regularization { get; set; }

    /// <summary>Whether the cells are layer-normalised (extra <c>ln_*</c> parameters).</summary>
    bool LayerNorm { get; }

    /// <summary>
    /// Gradient checkpointing of the time loop: null (default) stores every step's cache for the backward pass;
    /// K ≥ 1 runs the time loop in segments of K steps, keeps only the states at each segment's start and the
    /// outputs, and recomputes one segment's caches at a time in the backward pass (about one extra forward pass);
    /// 0 chooses K = ⌈√T⌉ for each batch. Results equal the stored path's. A plain stack is cut into segments
    /// across all its layers (<see cref="Recurrent.CheckpointedStackKernel{T, TCell}"/>: activation memory
    /// O(T/K + K) steps instead of O(T)); a bidirectional, residual or between-layer-dropout stack layer by layer,
    /// keeping each layer's output sequence (<see cref="Recurrent.CheckpointedDeepKernel{T, TCell}"/>).
    /// </summary>
    int? CheckpointTime { get; set; }
}

/// <summary>
/// Regularisation rates of a recurrent stack, applied while training inside the fused time loop (see
/// <see cref="Recurrent.RecurrentLayerOptions{T}"/>): <paramref name="InputDropout"/> — variational dropout of each
/// layer's input (one mask per sequence and feature, the same at every step); <paramref name="RecurrentDropout"/> —
/// variational dropout of h_{t−1} in the recurrent product (one mask per sequence and layer, every step);
/// <paramref name="Zoneout"/> — each unit keeps its previous h (and c) with this probability at each step, and at
/// inference h_t = z·h_{t−1} + (1−z)·h̃_t. Every rate in [0, 1).
/// </summary>
public sealed record RecurrentRegularization(double InputDropout = 0, double RecurrentDropout = 0, double Zoneout = 0)
{
    public static RecurrentRegularization None { get; } = new();

    public bool IsNone => InputDropout == 0 && RecurrentDropout == 0 && Zoneout == 0;

    /// <summary>Throws when a rate is outside [0, 1).</summary>
    public RecurrentRegularization Validate()
    {
        foreach (var (name, value) in new[] { ("input dropout", InputDropout), ("recurrent dropout", RecurrentDropout), ("zoneout", Zoneout) })
            if (!(value >= 0 && value < 1))
                throw new ArgumentOutOfRangeException(name, value, $"The {name} rate must be in [0, 1); found {value}.");
        return this;
    }
}

public static class RecurrentLayers
{
    public static IRecurrentLayer Create(CellKind cell, string name, int inputSize, int hiddenSize, int numLayers,
        RecurrentInitialization? initialization = null, RecurRandom? random = null, RecurrentStackOptions? options = null,
        bool layerNorm = false) => cell switch
    {
        CellKind.Lstm => new Lstm(name, inputSize, hiddenSize, numLayers, initialization, random, options, layerNorm),
        CellKind.Gru => new Gru(name, inputSize, hiddenSize, numLayers, initialization, random, options, layerNorm),
        CellKind.Rnn => new SimpleRnn(name, inputSize, hiddenSize, numLayers, initialization, random, options, layerNorm),
        _ => throw new ArgumentOutOfRangeException(nameof(cell), cell, "Unknown cell type."),
    };

    /// <summary>Parses <c>lstm</c>, <c>gru</c> or <c>rnn</c> (any case).</summary>
    public static CellKind ParseCell(string text) => text.Trim().ToLowerInvariant() switch
    {
        "lstm" => CellKind.Lstm,
        "gru" => CellKind.Gru,
        "rnn" => CellKind.Rnn,
        _ => throw new InvalidInputException($"--cell: expected one of lstm, gru, rnn; found '{text}'."),
    };

    public static string Name(CellKind cell) => cell.ToString().ToLowerInvariant();
}
