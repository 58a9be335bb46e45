using System.Diagnostics.CodeAnalysis;
using Recur.Autograd;
using Recur.Layers;
using Recur.Layers.Recurrent;
using Recur.Tensors;

namespace Recur.Models;

/// <summary>
/// Batch-1 streaming inference of a <see cref="SequenceModel"/>: each <c>Step</c> reads one time step (F features,
/// or one token id), advances the recurrent state the session carries from call to call (h, and c for LSTM, of
/// every layer: [L, H]) and writes the head's outputs [O] for that step. The outputs and states are bit-identical
/// to <see cref="SequenceModel.Continue"/> over the same steps one at a time, without its per-call tensors, layout
/// swaps, caches and tape: a step allocates nothing.
/// </summary>
/// <remarks>
/// <para>Thread-confined: the session owns its state and scratch, so only one thread at a time may use it (one
/// session per stream). Sessions of one model may run on different threads at once: they only read the weights.
/// The weights and the encoder's regularisation are read live, not copied, so the model must not be trained or
/// loaded into while a session steps (zoneout acts as its expectation, dropout not at all, as at inference).</para>
/// <para>Models that cannot be run one step at a time are refused when the session is made, with
/// <see cref="NotSupportedException"/>: a bidirectional encoder (its backward direction reads the steps still to
/// come), attention pooling (it weighs every step of the whole sequence) and an attention decoder (it forecasts
/// once from the whole encoded sequence).</para>
/// </remarks>
public sealed class StreamingSession
{
    private readonly RecurrentStepper _stepper;
    private readonly float[]? _embeddingTable; // [V, E]
    private readonly float[] _embedded;         // [E] this step's embedding (token models)
    private readonly float[] _headWeight;       // [O, H]
    private readonly float[] _headBias;         // [O], empty without bias
    private readonly float[] _hidden;           // [L, H]
    private readonly float[] _cell;             // [L, H], empty without cell state
    private readonly float[] _output;           // [O] for the overloads that return a view

    /// <summary>A session from zero state; throws <see cref="NotSupportedException"/> for a model that cannot stream.</summary>
    public StreamingSession(SequenceModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.StreamingRefusal is { } reason)
            throw new NotSupportedException($"This model cannot be run one step at a time: {reason}. Use SequenceModel.Continue over whole chunks instead.");
        Model = model;
        _stepper = ((IStepwiseRecurrentLayer)model.Encoder).CreateStepper();
        int L = _stepper.Layers, H = _stepper.HiddenSize;
        _embeddingTable = model.EmbeddingLayer?.Weight.Data;
        _embedded = new float[model.EmbeddingLayer?.EmbeddingSize ?? 0];
        _headWeight = model.Head.Weight.Data;
        _headBias = model.Head.Bias?.Data ?? [];
        _hidden = new float[L * H];
        _cell = _stepper.HasCellState ? new float[L * H] : [];
        _output = new float[OutputSize];
    }

    public SequenceModel Model { get; }

    /// <summary>Whether a step reads a token id (embedding models) rather than F numeric features.</summary>
    public bool ReadsTokens => _embeddingTable is not null;

    /// <summary>F: numeric features per step (the model's input size); unused by token models.</summary>
    public int InputSize => Model.Spec.InputSize;

    /// <summary>O: outputs per step.</summary>
    public int OutputSize => Model.Spec.OutputSize;

    /// <summary>Steps taken since the session was made, reset or given a state.</summary>
    public long Steps { get; private set; }

    /// <summary>h of every layer: [L, H], a live view (changes with every step).</summary>
    public ReadOnlySpan<float> Hidden => _hidden;

    /// <summary>c of every layer: [L, H], a live view; empty without cell state (GRU, RNN).</summary>
    public ReadOnlySpan<float> Cell => _cell;

    /// <summary>
    /// The state as <see cref="SequenceModel.Continue"/> takes and returns it: Hidden and (LSTM) Cell [L, 1, H].
    /// Getting it copies (allocates); setting it copies the values in (null: zeros) and accepts any state of one
    /// sequence, e.g. the one Continue returned after a prompt.
    /// </summary>
    [AllowNull]
    public RecurrentState State
    {
        get
        {
            int L = _stepper.Layers, H = _stepper.HiddenSize;
            return new RecurrentState(new Variable(new Tensor((float[])_hidden.Clone(), L, 1, H)),
                _stepper.HasCellState ? new Variable(new Tensor((float[])_cell.Clone(), L, 1, H)) : null);
        }
        set
        {
            if (value is null)
            {
                Reset();
                return;
            }
            CheckState(value.Hidden.Value, "Hidden");
            if (value.Cell is not null && !_stepper.HasCellState)
                throw new ArgumentException($"{Model.Encoder} has no cell state, but the state carries one.", nameof(value));
            if (value.Cell is not null) CheckState(value.Cell.Value, "Cell");
            value.Hidden.Value.Data.CopyTo(_hidden, 0);
            if (value.Cell is not null) value.Cell.Value.Data.CopyTo(_cell, 0);
            else Array.Clear(_cell);
            Steps = 0;
        }
    }

    /// <summary>Back to the zero state, as a new stream.</summary>
    public void Reset()
    {
        Array.Clear(_hidden);
        Array.Clear(_cell);
        Steps = 0;
    }

    /// <summary>One step of a numeric model: features [F] → output [O] (the first O values of <paramref name="output"/>).</summary>
    public void Step(ReadOnlySpan<float> features, Span<float> output)
    {
        if (ReadsTokens) throw new InvalidOperationException("This model reads token ids: call Step(int token, ...).");
        if (features.Length != InputSize)
            throw new ArgumentException($"Expected {InputSize} features for one step; found {features.Length}.", nameof(features));
        Advance(features, output);
    }

    /// <summary>One step of a token model: a token id in [0, V) → output [O] (the first O values of <paramref name="output"/>).</summary>
    public void Step(int token, Span<float> output)
    {
        if (_embeddingTable is null) throw new InvalidOperationException("This model reads numeric features: call Step(ReadOnlySpan<float> features, ...).");
        EmbeddingKernel<float>.Forward(new ReadOnlySpan<int>(in token), _embeddingTable.Length / _embedded.Length, _embedded.Length, _embeddingTable, _embedded);
        Advance(_embedded, output);
    }

    /// <summary>One step of a numeric model; returns the outputs [O], a view of the session's buffer valid until the next step.</summary>
    public ReadOnlySpan<float> Step(ReadOnlySpan<float> features)
    {
        Step(features, _output);
        return _output;
    }

    /// <summary>One step of a token model; returns the outputs [O], a view of the session's buffer valid until the next step.</summary>
    public ReadOnlySpan<float> Step(int token)
    {
        Step(token, _output);
        return _output;
    }

    /// <summary>x: [I] the encoder's input for this step → output [O] = head(encoder step).</summary>
    private void Advance(ReadOnlySpan<float> x, Span<float> output)
    {
        int O = OutputSize, H = _stepper.HiddenSize;
        if (output.Length < O) throw new ArgumentException($"The output needs room for {O} values; found {output.Length}.", nameof(output));
        var encoded = _stepper.Step(x, _hidden, _cell); // [H]
        DenseKernel<float>.Forward(1, H, O, encoded, _headWeight, _headBias, output);
        Steps++;
    }

    private void CheckState(Tensor state, string name)
    {
        int L = _stepper.Layers, H = _stepper.HiddenSize;
        if (state.Rank != 3 || state.Dim(0) != L || state.Dim(1) != 1 || state.Dim(2) != H)
            throw new ArgumentException($"A streaming session carries one sequence: the state's {name} must be [{L}, 1, {H}] (layers, batch, hidden); found {state.ShapeText}.", nameof(State));
    }
}
