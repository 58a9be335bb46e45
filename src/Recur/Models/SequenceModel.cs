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

    /// <summary>A backward direction per layer: the head reads 2H features (see <see cref="SequenceModel"/>).</summary>
    public bool Bidirectional { get; init; }

    /// <summary>Dropout on each recurrent layer's output but the last, while training (PyTorch's <c>dropout</c>).</summary>
    public double LayerDropout { get; init; }

    /// <summary>Residual connections from recurrent layer 1 on (layer l ≥ 1 adds its input to its output).</summary>
    public bool Residual { get; init; }
    public int OutputSize { get; init; } = 1;
    public int VocabularySize { get; init; }
    public int EmbeddingSize { get; init; } = 32;

    /// <summary>
    /// One output vector per step [B, T, O] (tagging, language modelling) instead of one per sequence [B, O]
    /// read at each sequence's last real step.
    /// </summary>
    public bool PerStep { get; init; }

    /// <summary>
    /// Attention pooling over each sequence's real steps instead of its last step (one output per sequence only):
    /// the head reads the context Σ α_t h_t [B, D·H]; see <see cref="AttentionPooling"/>.
    /// </summary>
    public AttentionKind Attention { get; init; } = AttentionKind.None;

    /// <summary>
    /// An <see cref="AttentionDecoder"/> with this attention (None: no decoder) stepped <see cref="OutputSize"/> times
    /// from the encoder's final state instead of the dense head on the last step: multi-step forecasting of one
    /// numeric target (feature 0 of the input), one-directional encoder.
    /// </summary>
    public AttentionKind DecoderAttention { get; init; } = AttentionKind.None;

    /// <summary>
    /// With <see cref="DecoderAttention"/> and token input: a token decoder over this many target ids (the target
    /// tokenizer's ids, then the start and end tokens), for sequence-to-sequence text (<c>--task seq2seq</c>); the
    /// decoder embeds target tokens in <see cref="EmbeddingSize"/> like the source. 0: a value decoder (forecasting).
    /// </summary>
    public int TargetVocabularySize { get; init; }

    /// <summary>
    /// Gradient checkpointing of the encoder's time loop (<c>--checkpoint-time</c>): segment length K, 0 for ⌈√T⌉,
    /// null for none; see <see cref="IRecurrentLayer.CheckpointTime"/>. A memory/compute trade-off that leaves the
    /// results unchanged, so not stored in the model file.
    /// </summary>
    public int? CheckpointTime { get; init; }

    /// <summary>
    /// A stateful forecaster (<c>--task forecast --stateful</c>): a per-step model whose output at step t is the
    /// forecast from everything up to t, so it runs over a series' whole history with its state carried (trained by
    /// truncated back-propagation in windows). The layers are those of any per-step model; the flag says how the
    /// model must be run, so tools that cannot carry state (ONNX export) refuse it. Stored as <c>stateful</c>.
    /// </summary>
    public bool Stateful { get; init; }

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

    /// <summary>Training an encoder–decoder: the true (normalised) targets [B, horizon] it is fed (teacher forcing).</summary>
    public Tensor? DecoderTargets { get; init; }

    /// <summary>Scheduled sampling: the probability of feeding the decoder its own previous prediction instead of the true value.</summary>
    public double SamplingProbability { get; init; }

    /// <summary>
    /// Fixes which decoder steps are fed the true previous target [B·steps] (row-major; false: the model's own
    /// prediction) instead of drawing them with <see cref="SamplingProbability"/>, so that a test can hold one
    /// scheduled-sampling pattern while it perturbs the weights. Null: drawn.
    /// </summary>
    public bool[]? DecoderTeacherChoices { get; init; }

    /// <summary>
    /// A token decoder's targets [B, <see cref="DecoderSteps"/>]: each row its target ids, then the end token, then
    /// padding. Fed while training (teacher forcing) and when scoring (the validation loss is teacher-forced).
    /// </summary>
    public int[]? DecoderTokens { get; init; }

    /// <summary>U: steps of <see cref="DecoderTokens"/>.</summary>
    public int DecoderSteps { get; init; }

    /// <summary>[B] real steps of each row of <see cref="DecoderTokens"/> (its targets and the end token).</summary>
    public int[]? DecoderLengths { get; init; }
}

/// <summary>The recurrent state [L·D, B, H] after a batch, to continue it one chunk later (generation, streaming).</summary>
public sealed record RecurrentState(Variable Hidden, Variable? Cell)
{
    /// <summary>
    /// A copy of the values that no gradient flows through: what stateful truncated back-propagation carries from
    /// one window to the next.
    /// </summary>
    public RecurrentState Detach() => new(new Variable(Hidden.Value.Clone()), Cell is null ? null : new Variable(Cell.Value.Clone()));

    /// <summary>Whether every value is finite (a diverged step's state is not worth carrying).</summary>
    public bool IsFinite() =>
        Finite(Hidden.Value.Data) && (Cell is null || Finite(Cell.Value.Data));

    private static bool Finite(float[] values)
    {
        foreach (var v in values) if (!float.IsFinite(v)) return false;
        return true;
    }
}

/// <summary>
/// Sequence → one output vector: [embedding →] stacked LSTM/GRU/RNN (optionally layer-normalised, with input and
/// recurrent dropout and zoneout while training) → last real step → dropout → dense head; or,
/// with <see cref="SequenceModelSpec.PerStep"/>, the same head on every step. Bidirectional: the head reads
/// concat(forward output at each sequence's last real step, backward output at step 0) [B, 2H], or every step's
/// [2H] outputs per step. With <see cref="SequenceModelSpec.Attention"/> the head reads the attention context over
/// the real steps instead of the last step. Parameters: <c>embedding.weight</c>, <c>encoder.*</c> (PyTorch names),
/// <c>attention.*</c>, <c>head.weight</c>, <c>head.bias</c>.
/// </summary>
public sealed class SequenceModel
{
    private readonly Embedding? _embedding;
    private readonly IRecurrentLayer _encoder;
    private readonly AttentionPooling? _attention;
    private readonly AttentionDecoder? _decoder;
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
        _encoder = RecurrentLayers.Create(spec.Cell, "encoder", encoderInput, spec.HiddenSize, spec.Layers, spec.Initialization, random,
            new RecurrentStackOptions { Bidirectional = spec.Bidirectional, Dropout = spec.LayerDropout, Residual = spec.Residual },
            spec.LayerNorm);
        _encoder.Regularization = new RecurrentRegularization(spec.InputDropout, spec.RecurrentDropout, spec.Zoneout);
        _encoder.CheckpointTime = spec.CheckpointTime;
        if (spec.Attention != AttentionKind.None)
        {
            if (spec.PerStep) throw new ArgumentException("Attention pooling gives one output per sequence; a per-step model cannot use it.", nameof(spec));
            _attention = new AttentionPooling("attention", spec.Attention, _encoder.OutputSize, random);
        }
        if (spec.DecoderAttention != AttentionKind.None)
        {
            // Tokens in and a target vocabulary out (seq2seq), or numbers in and values out (forecasting).
            if (spec.PerStep || spec.Bidirectional || spec.Attention != AttentionKind.None || (spec.VocabularySize > 0) != (spec.TargetVocabularySize > 0))
                throw new ArgumentException("An attention decoder needs one output per sequence, a one-directional encoder, no attention pooling, and either numeric input (values out) or token input with a target vocabulary.", nameof(spec));
            _decoder = new AttentionDecoder(spec.Cell, spec.DecoderAttention, _encoder.OutputSize, spec.HiddenSize, spec.Layers, spec.OutputSize, random,
                spec.TargetVocabularySize, spec.EmbeddingSize);
        }
        else if (spec.TargetVocabularySize > 0)
            throw new ArgumentException("A target vocabulary needs an attention decoder (DecoderAttention).", nameof(spec));
        _dropout = new Dropout(spec.Dropout);
        _head = new Dense("head", _encoder.OutputSize, spec.OutputSize, random: random);
        Parameters = _decoder is not null ? [.. _embedding?.Parameters ?? [], .. _encoder.Parameters, .. _decoder.Parameters]
            : [.. _embedding?.Parameters ?? [], .. _encoder.Parameters, .. _attention?.Parameters ?? [], .. _head.Parameters];
    }

    public SequenceModelSpec Spec { get; }

    /// <summary>The recurrent stack, e.g. to attach a <see cref="GradientFlowProbe"/>.</summary>
    public IRecurrentLayer Encoder => _encoder;

    /// <summary>
    /// Parameters grouped as the gradient-flow monitor reports them: embedding, each recurrent layer (both
    /// directions of a bidirectional one), head.
    /// </summary>
    public IReadOnlyList<(string Group, IReadOnlyList<Parameter> Parameters)> ParameterGroups()
    {
        var groups = new List<(string, IReadOnlyList<Parameter>)>();
        if (_embedding is not null) groups.Add(("embedding", _embedding.Parameters));
        for (int l = 0; l < _encoder.NumLayers; l++)
            groups.Add(($"encoder layer {l}", _encoder.Parameters.Where(p => p.Name.EndsWith($"_l{l}", StringComparison.Ordinal)
                || p.Name.EndsWith($"_l{l}_reverse", StringComparison.Ordinal)).ToList()));
        if (_attention is not null) groups.Add(("attention", _attention.Parameters));
        if (_decoder is not null) groups.Add(("decoder", _decoder.Parameters));
        else groups.Add(("head", _head.Parameters));
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
    /// <see cref="Forward"/> from an initial recurrent state (null: zeros), also returning the state after the
    /// batch's last (real) step, for stateful training. The returned state is part of this tape's graph; carry
    /// <see cref="RecurrentState.Detach"/> of it into the next batch so that no gradient crosses the boundary.
    /// Hidden and Cell of <paramref name="initial"/> are [L, B, H] (Cell for LSTM only).
    /// </summary>
    public (Variable Output, RecurrentState State) ForwardWithState(Tape tape, SequenceBatch batch, bool training, RecurRandom? random,
        RecurrentState? initial) =>
        Run(tape, batch, training, random, initial);

    /// <summary>
    /// Continues from <paramref name="state"/> (null: zeros) over the batch, without recording gradients: the
    /// outputs [B, O] of each sequence's last step and the state after it.
    /// </summary>
    /// <remarks>
    /// One step of one sequence (B = T = 1, the streaming case) runs through a <see cref="StreamingSession"/> made
    /// for the call, with the same results bit for bit and a fraction of the cost; to stream without even the
    /// per-call state copies, keep a session (<see cref="StartStreaming"/>).
    /// </remarks>
    public (float[] Outputs, RecurrentState State) Continue(SequenceBatch batch, RecurrentState? state)
    {
        if (IsOneStreamingStep(batch)) return ContinueOneStep(batch, state);
        var (output, next) = Run(Tape.Inference, batch, training: false, null, state);
        if (!Spec.PerStep) return (output.Value.Data, next);
        int B = batch.Batch, T = batch.Steps, O = Spec.OutputSize;
        var last = new float[B * O];
        for (int b = 0; b < B; b++)
            output.Value.Data.AsSpan((b * T + (batch.Lengths?[b] ?? T) - 1) * O, O).CopyTo(last.AsSpan(b * O));
        return (last, next);
    }

    /// <summary>
    /// A <see cref="StreamingSession"/> from zero state: one step per call, the state carried, nothing allocated
    /// per step. Throws <see cref="NotSupportedException"/> for a model that cannot stream (<see cref="StreamingRefusal"/>).
    /// </summary>
    public StreamingSession StartStreaming() => new(this);

    /// <summary>Why this model cannot run one step at a time (see <see cref="StreamingSession"/>); null when it can.</summary>
    public string? StreamingRefusal =>
        Spec.Bidirectional ? "its encoder is bidirectional, and the backward direction reads the steps still to come"
        : _attention is not null ? "attention pooling weighs every step of the whole sequence"
        : _decoder is not null ? "its attention decoder forecasts once from the whole encoded sequence"
        : null;

    internal Embedding? EmbeddingLayer => _embedding;
    internal Dense Head => _head;

    /// <summary>Whether Continue can take the streaming path: one step of one sequence, in the form this model reads.</summary>
    private bool IsOneStreamingStep(SequenceBatch batch) =>
        batch is { Batch: 1, Steps: 1, Lengths: null or [1] } && StreamingRefusal is null
        && (_embedding is not null
            ? batch.Tokens is { Length: 1 }
            : batch.Values is { Rank: 3 } values && values.Dim(0) == 1 && values.Dim(1) == 1 && values.Dim(2) == Spec.InputSize);

    /// <summary>
    /// A session Continue's one-step calls reuse, so that they allocate only what they return: a caller takes it
    /// (leaving null), so concurrent callers each get their own; it is put back after the step.
    /// </summary>
    private StreamingSession? _continueSession;

    private (float[] Outputs, RecurrentState State) ContinueOneStep(SequenceBatch batch, RecurrentState? state)
    {
        var session = Interlocked.Exchange(ref _continueSession, null) ?? new StreamingSession(this);
        if (state is not null) session.State = state;
        else session.Reset();
        var outputs = new float[Spec.OutputSize];
        if (_embedding is not null) session.Step(batch.Tokens![0], outputs);
        else session.Step(batch.Values!.Data.AsSpan(0, Spec.InputSize), outputs);
        var next = session.State;
        _continueSession = session;
        return (outputs, next);
    }

    /// <summary>
    /// The attention weights α [B, T] of every sequence in the batch (0 at padded steps; each row sums to 1 over its
    /// real steps), without recording gradients; null when the model has no attention.
    /// </summary>
    public Tensor? AttentionWeights(SequenceBatch batch)
    {
        if (_attention is null) return null;
        Tensor? weights = null;
        Run(Tape.Inference, batch, training: false, null, null, w => weights = w);
        return weights;
    }

    private (Variable Output, RecurrentState State) Run(Tape tape, SequenceBatch batch, bool training, RecurRandom? random, RecurrentState? state,
        Action<Tensor>? attentionWeights = null)
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
        var encoded = _encoder.Forward(tape, input, state?.Hidden, state?.Cell, batch.Lengths, training ? random : null);
        if (_decoder is { TargetVocabulary: > 0 })
        {
            var targets = batch.DecoderTokens ?? throw new ArgumentException("A token decoder's forward pass is teacher-forced: the batch needs DecoderTokens (decode new text with TokenDecoding).", nameof(batch));
            var logits = _decoder.ForwardTokens(tape, encoded.Output, batch.Lengths, encoded.HiddenState, encoded.CellState, targets, batch.DecoderSteps,
                training ? batch.SamplingProbability : 0, training ? random : null, batch.DecoderTeacherChoices);
            return (logits, new RecurrentState(encoded.HiddenState, encoded.CellState));
        }
        if (_decoder is not null)
        {
            var values = batch.Values!;
            int T = batch.Steps, F = values.Dim(2);
            var first = new float[batch.Batch];
            for (int b = 0; b < batch.Batch; b++) first[b] = values.Data[(b * T + (batch.Lengths?[b] ?? T) - 1) * F];
            var forecast = _decoder.Forward(tape, encoded.Output, batch.Lengths, encoded.HiddenState, encoded.CellState, first,
                training ? batch.DecoderTargets : null, batch.SamplingProbability, training ? random : null, batch.DecoderTeacherChoices);
            return (forecast, new RecurrentState(encoded.HiddenState, encoded.CellState));
        }
        Variable features;
        if (_attention is not null)
        {
            (features, var alpha) = _attention.Forward(tape, encoded.Output, batch.Lengths);
            attentionWeights?.Invoke(alpha);
        }
        else features = Spec.PerStep ? encoded.Output
            : Spec.Bidirectional ? TimeSteps.BidirectionalLast(tape, encoded.Output, batch.Lengths)
            : _encoder.Options.Residual && _encoder.NumLayers > 1 ? TimeSteps.Last(tape, encoded.Output, batch.Lengths)
            // the output at the last step is the top layer's final state: read there, so its gradient enters as the state's
            : TimeSteps.LastFromFinalStates(tape, encoded.HiddenState, _encoder.NumLayers - 1, batch.Steps, batch.Lengths);
        if (training && random is not null) features = _dropout.Forward(tape, features, training: true, random);
        return (_head.Forward(tape, features), new RecurrentState(encoded.HiddenState, encoded.CellState));
    }

    /// <summary>
    /// Runs the encoder over the batch without recording gradients and returns the decoder with what it starts from:
    /// the encoder side it attends to and its state before step 1 (for <see cref="TokenDecoding"/>).
    /// </summary>
    public (AttentionDecoder Decoder, DecoderMemory Memory, DecoderState State) StartDecoding(SequenceBatch batch)
    {
        var decoder = _decoder ?? throw new InvalidOperationException("This model has no attention decoder.");
        var tape = Tape.Inference;
        var input = _embedding is not null
            ? _embedding.Forward(tape, batch.Tokens ?? throw new ArgumentException("This model reads token ids, but the batch holds numeric values.", nameof(batch)), batch.Batch, batch.Steps)
            : new Variable(batch.Values ?? throw new ArgumentException("This model reads numeric values, but the batch holds token ids.", nameof(batch)));
        var encoded = _encoder.Forward(tape, input, null, null, batch.Lengths);
        return (decoder, decoder.Memory(tape, encoded.Output, batch.Lengths), decoder.Start(encoded.HiddenState, encoded.CellState));
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
        $"{(_embedding is null ? "" : _embedding + " → ")}{_encoder} → {(_attention is null ? "" : _attention + " → ")}{(_decoder is null ? _head : _decoder)}";
}
