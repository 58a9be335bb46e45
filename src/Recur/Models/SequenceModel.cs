using Recur.Autograd;
using Recur.Initialization;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Models;

/// <summary>
/// The architecture of a <see cref="SequenceModel"/>: everything needed to rebuild it before loading weights.
/// Token input when <see cref="VocabularySize"/> &gt; 0, numeric features otherwise.
/// </summary>
public sealed record SequenceModelSpec
{
    public CellKind Cell { get; init; } = CellKind.Lstm;
    public int InputSize { get; init; } = 1;
    public int HiddenSize { get; init; } = 64;
    public int Layers { get; init; } = 1;
    /// <summary>Dropout on the recurrent stack's outputs, before the head (<c>--dropout</c>).</summary>
    public double Dropout { get; init; }

    /// <summary>Variational dropout of each recurrent layer's input (<c>--input-dropout</c>).</summary>
    public double InputDropout { get; init; }

    /// <summary>Variational dropout of h_{t−1} in the recurrent product (<c>--recurrent-dropout</c>).</summary>
    public double RecurrentDropout { get; init; }

    /// <summary>Zoneout probability of the recurrent units (<c>--zoneout</c>).</summary>
    public double Zoneout { get; init; }

    /// <summary>Layer-normalised recurrent cells (<c>--layer-norm</c>; adds the <c>ln_*</c> parameters).</summary>
    public bool LayerNorm { get; init; }

    public int OutputSize { get; init; } = 1;
    public int VocabularySize { get; init; }
    public int EmbeddingSize { get; init; } = 32;

    /// <summary>
    /// One output vector per step [B, T, O] (tagging, language modelling) instead of one per sequence [B, O]
    /// read at each sequence's last real step.
    /// </summary>
    public bool PerStep { get; init; }

    /// <summary>How the recurrent weights are drawn (not stored: a loaded model takes its weights from the file).</summary>
    public RecurrentInitialization? Initialization { get; init; }
}

/// <summary>
/// A batch of model inputs: numeric [B, T, F] or token ids [B, T], right-padded when <see cref="Lengths"/> [B]
/// gives each sequence's real steps (null: all T).
/// </summary>
public sealed record SequenceBatch(int Batch, int Steps, Tensor? Values, int[]? Tokens)
{
    public int[]? Lengths { get; init; }
}

/// <summary>The recurrent state [L, B, H] after a batch, to continue it one chunk later (generation, streaming).</summary>
public sealed record RecurrentState(Variable Hidden, Variable? Cell);

/// <summary>
/// Sequence → one output vector: [embedding →] stacked LSTM/GRU/RNN (optionally layer-normalised, with input and
/// recurrent dropout and zoneout while training) → last real step → dropout → dense head; or,
/// with <see cref="SequenceModelSpec.PerStep"/>, the same head on every step. Parameters: <c>embedding.weight</c>, <c>encoder.*</c> (PyTorch names), <c>head.weight</c>, <c>head.bias</c>.
/// </summary>
public sealed class SequenceModel
{
    private readonly Embedding? _embedding;
    private readonly IRecurrentLayer _encoder;
    private readonly Dropout _dropout;
    private readonly Dense _head;

    public SequenceModel(SequenceModelSpec spec, RecurRandom random)
    {
        Spec = spec;
        int encoderInput = spec.InputSize;
        if (spec.VocabularySize > 0)
        {
            _embedding = new Embedding("embedding", spec.VocabularySize, spec.EmbeddingSize, random);
            encoderInput = spec.EmbeddingSize;
        }
        _encoder = RecurrentLayers.Create(spec.Cell, "encoder", encoderInput, spec.HiddenSize, spec.Layers, spec.Initialization, random, spec.LayerNorm);
        _encoder.Regularization = new RecurrentRegularization(spec.InputDropout, spec.RecurrentDropout, spec.Zoneout);
        _dropout = new Dropout(spec.Dropout);
        _head = new Dense("head", spec.HiddenSize, spec.OutputSize, random: random);
        Parameters = [.. _embedding?.Parameters ?? [], .. _encoder.Parameters, .. _head.Parameters];
    }

    public SequenceModelSpec Spec { get; }

    /// <summary>The recurrent stack, e.g. to attach a <see cref="GradientFlowProbe"/>.</summary>
    public IRecurrentLayer Encoder => _encoder;

    /// <summary>Parameters grouped as the gradient-flow monitor reports them: embedding, each recurrent layer, head.</summary>
    public IReadOnlyList<(string Group, IReadOnlyList<Parameter> Parameters)> ParameterGroups()
    {
        var groups = new List<(string, IReadOnlyList<Parameter>)>();
        if (_embedding is not null) groups.Add(("embedding", _embedding.Parameters));
        for (int l = 0; l < _encoder.NumLayers; l++)
            groups.Add(($"encoder layer {l}", _encoder.Parameters.Where(p => p.Name.EndsWith($"_l{l}", StringComparison.Ordinal)).ToList()));
        groups.Add(("head", _head.Parameters));
        return groups;
    }
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Outputs [B, O], or [B, T, O] per step (zeros in, meaningless out at padded steps); <paramref name="random"/>
    /// draws dropout masks while training.
    /// </summary>
    public Variable Forward(Tape tape, SequenceBatch batch, bool training, RecurRandom? random) =>
        Run(tape, batch, training, random, null).Output;

    /// <summary>
    /// Continues from <paramref name="state"/> (null: zeros) over the batch, without recording gradients: the
    /// outputs [B, O] of each sequence's last step and the state after it.
    /// </summary>
    public (float[] Outputs, RecurrentState State) Continue(SequenceBatch batch, RecurrentState? state)
    {
        var (output, next) = Run(Tape.Inference, batch, training: false, null, state);
        if (!Spec.PerStep) return (output.Value.Data, next);
        int B = batch.Batch, T = batch.Steps, O = Spec.OutputSize;
        var last = new float[B * O];
        for (int b = 0; b < B; b++)
            output.Value.Data.AsSpan((b * T + (batch.Lengths?[b] ?? T) - 1) * O, O).CopyTo(last.AsSpan(b * O));
        return (last, next);
    }

    private (Variable Output, RecurrentState State) Run(Tape tape, SequenceBatch batch, bool training, RecurRandom? random, RecurrentState? state)
    {
        Variable input;
        if (_embedding is not null)
        {
            var tokens = batch.Tokens ?? throw new ArgumentException("This model reads token ids, but the batch holds numeric values.", nameof(batch));
            input = _embedding.Forward(tape, tokens, batch.Batch, batch.Steps);
        }
        else
        {
            input = new Variable(batch.Values ?? throw new ArgumentException("This model reads numeric values, but the batch holds token ids.", nameof(batch)));
        }
        var encoded = _encoder.Forward(tape, input, state?.Hidden, state?.Cell, batch.Lengths, training, random);
        var features = Spec.PerStep ? encoded.Output : TimeSteps.Last(tape, encoded.Output, batch.Lengths);
        if (training && random is not null) features = _dropout.Forward(tape, features, training: true, random);
        return (_head.Forward(tape, features), new RecurrentState(encoded.HiddenState, encoded.CellState));
    }

    /// <summary>Parameter values by name (live tensors).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict() => Parameters.ToDictionary(p => p.Name, p => p.Value);

    /// <summary>Copies named tensors into the parameters; every parameter must be present with its shape.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> state, string source)
    {
        foreach (var p in Parameters)
        {
            if (!state.TryGetValue(p.Name, out var value))
                throw new InvalidInputException($"{source}: the model has no tensor '{p.Name}' (expected shape {p.Value.ShapeText}).");
            if (!value.SameShape(p.Value))
                throw new InvalidInputException($"{source}: tensor '{p.Name}' has shape {value.ShapeText}; the model's configuration needs {p.Value.ShapeText}.");
            value.Data.CopyTo(p.Value.Data, 0);
        }
    }

    /// <summary>A copy of every parameter's values, for keeping the best weights.</summary>
    public float[][] Snapshot() => Parameters.Select(p => (float[])p.Value.Data.Clone()).ToArray();

    public void Restore(float[][] snapshot)
    {
        for (int i = 0; i < Parameters.Count; i++) snapshot[i].CopyTo(Parameters[i].Value.Data, 0);
    }

    public override string ToString() =>
        $"{(_embedding is null ? "" : _embedding + " → ")}{_encoder} → {_head}";
}
