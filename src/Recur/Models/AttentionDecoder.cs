using Recur.Autograd;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;
using Recur.Training;

namespace Recur.Models;

/// <summary>
/// The decoder of an encoder–decoder: an LSTM/GRU/RNN stack of the encoder's shape, started from the encoder's final
/// state and stepped once per output step. Step s reads [previous; previous context] (a zero context at step 1),
/// attends over the encoder outputs [B, T, F] with its new state as the query (Luong: score = (W s)ᵀ h_t / √F;
/// Bahdanau: vᵀ tanh(K h_t + U s + b)), and a dense head reads [state; context] [B, H + F]. Two kinds of output:
/// <list type="bullet">
/// <item>Values (the forecaster, <c>--decoder attention</c>): "previous" is the previous value [B, 1] (the window's
/// last value at step 1) and the head predicts the next one; <see cref="Steps"/> steps.</item>
/// <item>Tokens (<c>--task seq2seq</c>, <see cref="TargetVocabulary"/> V &gt; 0): "previous" is the embedding
/// [B, E] of the previous target token (<see cref="StartToken"/> at step 1) and the head predicts logits [B, V] of the
/// next; as many steps as the targets have, or at inference until <see cref="EndToken"/> (<see cref="TokenDecoding"/>).</item>
/// </list>
/// While training (targets given) the previous value or token is the true one, or with the sampling probability
/// the model's own previous prediction (its value, or its argmax token; scheduled sampling, Bengio et al. 2015; no
/// gradient flows through the fed prediction); at inference always its own. Parameters: <c>decoder.*</c> (PyTorch
/// names), <c>decoder_attention.*</c>, <c>decoder_head.*</c>, and for tokens <c>decoder_embedding.weight</c>.
/// </summary>
public sealed class AttentionDecoder : Module
{
    private readonly IRecurrentLayer _cell;
    private readonly Dense? _query, _keys, _state;
    private readonly Parameter? _v;
    private readonly Dense _head;
    private readonly Embedding? _embedding;

    /// <summary>
    /// targetVocabulary 0: a value decoder of <paramref name="steps"/> steps; V &gt; 0: a token decoder over V target
    /// ids whose last two are the start and end tokens, embedded in <paramref name="embeddingSize"/> (steps unused).
    /// </summary>
    public AttentionDecoder(CellKind cell, AttentionKind attention, int features, int hidden, int layers, int steps, RecurRandom random,
        int targetVocabulary = 0, int embeddingSize = 0) : base("decoder")
    {
        if (attention == AttentionKind.None) throw new ArgumentException("The decoder needs additive or dot attention.", nameof(attention));
        if (targetVocabulary is > 0 and < 3) throw new ArgumentOutOfRangeException(nameof(targetVocabulary), targetVocabulary, "A token decoder needs at least one token besides start and end.");
        (Kind, Features, Steps, TargetVocabulary) = (attention, features, steps, targetVocabulary);
        IReadOnlyList<Parameter> embedding = [];
        if (targetVocabulary > 0)
        {
            _embedding = new Embedding("decoder_embedding", targetVocabulary, embeddingSize, random);
            embedding = _embedding.Parameters;
        }
        _cell = RecurrentLayers.Create(cell, "decoder", (_embedding?.EmbeddingSize ?? 1) + features, hidden, layers, null, random);
        if (attention == AttentionKind.Dot)
        {
            _query = new Dense("decoder_attention.query", hidden, features, useBias: false, random: random);
            Parameters = [.. embedding, .. _cell.Parameters, .. _query.Parameters];
        }
        else
        {
            _keys = new Dense("decoder_attention.key", features, features, useBias: false, random: random);
            _state = new Dense("decoder_attention.state", hidden, features, random: random);
            _v = new Parameter("decoder_attention.v", new Tensor(features));
            Initialization.Initializers.Uniform(_v.Value.Span, 1 / Math.Sqrt(features), random);
            Parameters = [.. embedding, .. _cell.Parameters, .. _keys.Parameters, .. _state.Parameters, _v];
        }
        _head = new Dense("decoder_head", hidden + features, targetVocabulary > 0 ? targetVocabulary : 1, random: random);
        Parameters = [.. Parameters, .. _head.Parameters];
    }

    public AttentionKind Kind { get; }
    public int Features { get; }
    public int Steps { get; }

    /// <summary>V: target ids a token decoder predicts (0 for a value decoder).</summary>
    public int TargetVocabulary { get; }

    /// <summary>The id fed at step 1 of a token decoder (never predicted).</summary>
    public int StartToken => TargetVocabulary - 2;

    /// <summary>The id that ends a target sequence.</summary>
    public int EndToken => TargetVocabulary - 1;
    public override IReadOnlyList<Parameter> Parameters { get; }

    public override string ToString() => TargetVocabulary > 0
        ? $"AttentionDecoder({AttentionKinds.Name(Kind)}, {_embedding}, {_cell}) → {_head}"
        : $"AttentionDecoder({AttentionKinds.Name(Kind)}, {_cell}, {Steps} steps) → {_head}";

    /// <summary>The encoder side for <see cref="Step"/>: encoder outputs [B, T, F] with their lengths (null: all T).</summary>
    public DecoderMemory Memory(Tape tape, Variable encoder, int[]? lengths) =>
        new(encoder, _keys?.Forward(tape, encoder), lengths is null ? [] : (int[])lengths.Clone());

    /// <summary>The state before step 1: the encoder's final h0, c0 [L, B, H] and a zero context [B, F].</summary>
    public DecoderState Start(Variable h0, Variable? c0) => new(h0, c0, new Variable(new Tensor(h0.Value.Dim(1), Features)));

    /// <summary>The target-token embeddings [B, E] of <paramref name="tokens"/> [B] (token decoders).</summary>
    public Variable Embed(Tape tape, int[] tokens) =>
        (_embedding ?? throw new InvalidOperationException("A value decoder has no token embedding.")).Forward(tape, tokens, tokens.Length);

    /// <summary>
    /// One step: previous [B, P] (P = 1 value, or E for a token embedding) and the state → the head's output
    /// [B, 1] or logits [B, V], the next state, and the attention weights [B, T] (0 at padded steps).
    /// </summary>
    public (Variable Output, DecoderState Next, float[] Weights) Step(Tape tape, DecoderMemory memory, DecoderState state, Variable previous)
    {
        int B = memory.Batch, F = Features, P = previous.Value.Length / B;
        var input = Concat(tape, [B, 1, P + F], previous, state.Context);
        var step = _cell.Forward(tape, input, state.Hidden, state.Cell);
        var query = TimeSteps.At(tape, step.Output, 0);
        var (context, weights) = Kind == AttentionKind.Dot
            ? DotStep(tape, memory.Outputs, _query!.Forward(tape, query), memory.Lengths)
            : AdditiveStep(tape, memory.Outputs, memory.ProjectedKeys!, _state!.Forward(tape, query), _v!, memory.Lengths);
        var output = _head.Forward(tape, Concat(tape, [B, query.Value.Dim(1) + F], query, context));
        return (output, new DecoderState(step.HiddenState, step.CellState, context), weights);
    }

    /// <summary>
    /// Value decoder. encoder: outputs [B, T, F] (right-padded by <paramref name="lengths"/>), final states h0, c0 [L, B, H];
    /// first: each sequence's last value [B]; targets [B, Steps] (training only, null at inference) → [B, Steps].
    /// <paramref name="teacherChoices"/> fixes which steps are fed the true value (tests): [B·Steps], row-major.
    /// </summary>
    public Variable Forward(Tape tape, Variable encoder, int[]? lengths, Variable h0, Variable? c0, float[] first, Tensor? targets,
        double samplingProbability, RecurRandom? random, bool[]? teacherChoices = null)
    {
        int B = encoder.Value.Dim(0);
        var memory = Memory(tape, encoder, lengths);
        var state = Start(h0, c0);
        var previous = (float[])first.Clone();
        var outputs = new Variable[Steps];
        for (int s = 0; s < Steps; s++)
        {
            (var y, state, _) = Step(tape, memory, state, new Variable(new Tensor(previous, B, 1)));
            outputs[s] = y;
            var next = new float[B];
            for (int b = 0; b < B; b++)
                next[b] = targets is not null && Teacher(b * Steps + s, samplingProbability, random, teacherChoices)
                    ? targets.Data[b * Steps + s] : y.Value.Data[b];
            previous = next;
        }
        return Concat(tape, [B, Steps], outputs);
    }

    /// <summary>
    /// Token decoder, teacher-forced: targets [B, U] (each row its target ids then <see cref="EndToken"/>; padding
    /// after it is never read into a loss) → logits [B, U, V]. Step s + 1 is fed targets[b, s], or with the sampling
    /// probability the argmax of step s's logits. <paramref name="teacherChoices"/> [B·U] fixes that choice (tests).
    /// </summary>
    public Variable ForwardTokens(Tape tape, Variable encoder, int[]? lengths, Variable h0, Variable? c0, int[] targets, int steps,
        double samplingProbability, RecurRandom? random, bool[]? teacherChoices = null)
    {
        int B = encoder.Value.Dim(0), V = TargetVocabulary;
        if (targets.Length != B * steps) throw new ArgumentException($"Expected target ids [{B}, {steps}]; found {targets.Length} ids.", nameof(targets));
        var memory = Memory(tape, encoder, lengths);
        var state = Start(h0, c0);
        var previous = Enumerable.Repeat(StartToken, B).ToArray();
        var outputs = new Variable[steps];
        for (int s = 0; s < steps; s++)
        {
            (var logits, state, _) = Step(tape, memory, state, Embed(tape, previous));
            outputs[s] = logits;
            var next = new int[B];
            for (int b = 0; b < B; b++)
                next[b] = Teacher(b * steps + s, samplingProbability, random, teacherChoices) ? targets[b * steps + s]
                    : Evaluation.ClassificationMetrics.ArgMax(logits.Value.Data.AsSpan(b * V, V));
            previous = next;
        }
        return Concat(tape, [B, steps, V], outputs);
    }

    /// <summary>Whether output step i (row-major [B, steps]) feeds the truth to the next step.</summary>
    private static bool Teacher(int i, double samplingProbability, RecurRandom? random, bool[]? teacherChoices) =>
        teacherChoices is not null ? teacherChoices[i]
            : !(samplingProbability > 0 && random is not null && random.NextDouble() < samplingProbability);

    /// <summary>Concatenates [B, Xᵢ] parts (any trailing shape, flattened per row) along the last axis into <paramref name="shape"/>.</summary>
    internal static Variable Concat(Tape tape, int[] shape, params Variable[] parts)
    {
        int B = shape[0];
        var widths = parts.Select(p => p.Value.Length / B).ToArray();
        int total = widths.Sum();
        var y = new Variable(new Tensor(shape), tape.IsRecording && parts.Any(p => p.RequiresGrad));
        for (int b = 0, offset = 0; b < B; b++)
            for (int i = 0; i < parts.Length; i++)
            {
                parts[i].Value.Data.AsSpan(b * widths[i], widths[i]).CopyTo(y.Value.Data.AsSpan(offset));
                offset += widths[i];
            }
        if (y.RequiresGrad)
            tape.Record(() =>
            {
                for (int i = 0, at = 0; i < parts.Length; at += widths[i], i++)
                {
                    if (!parts[i].RequiresGrad) continue;
                    var dx = parts[i].Grad.Data;
                    for (int b = 0; b < B; b++)
                        for (int k = 0; k < widths[i]; k++) dx[b * widths[i] + k] += y.Grad.Data[b * total + at + k];
                }
            });
        return y;
    }

    /// <summary>Luong: keys [B, T, F], query [B, F] → context [B, F] and the weights [B, T].</summary>
    private static (Variable Context, float[] Weights) DotStep(Tape tape, Variable keys, Variable query, int[] lengths)
    {
        int B = keys.Value.Dim(0), T = keys.Value.Dim(1), F = keys.Value.Dim(2);
        float scale = AttentionKernel<float>.Scale(F);
        var weights = new float[B * T];
        var context = new Variable(new Tensor(B, F), tape.IsRecording);
        AttentionKernel<float>.DotScores(B, T, F, lengths, keys.Value.Data, query.Value.Data, F, scale, weights);
        AttentionKernel<float>.MaskedSoftmax(B, T, lengths, weights);
        AttentionKernel<float>.Pool(B, T, F, lengths, weights, keys.Value.Data, context.Value.Data);
        tape.Record(() =>
        {
            var dKeys = keys.RequiresGrad ? keys.Grad.Data : new float[keys.Value.Length];
            var dScores = new float[B * T];
            AttentionKernel<float>.PoolBackward(B, T, F, lengths, weights, keys.Value.Data, context.Grad.Data, dScores, dKeys);
            AttentionKernel<float>.MaskedSoftmaxBackward(B, T, lengths, weights, dScores, dScores);
            AttentionKernel<float>.DotScoresBackward(B, T, F, lengths, keys.Value.Data, query.Value.Data, F, scale, dScores, dKeys,
                query.RequiresGrad ? query.Grad.Data : new float[query.Value.Length]);
        });
        return (context, weights);
    }

    /// <summary>Bahdanau: values [B, T, F], projected keys [B, T, A], offset [B, A] (U s + b), v [A] → context [B, F] and the weights [B, T].</summary>
    private static (Variable Context, float[] Weights) AdditiveStep(Tape tape, Variable values, Variable projected, Variable offset, Parameter v, int[] lengths)
    {
        int B = values.Value.Dim(0), T = values.Value.Dim(1), F = values.Value.Dim(2), A = v.Value.Length;
        var hidden = (float[])projected.Value.Data.Clone();
        var weights = new float[B * T];
        var context = new Variable(new Tensor(B, F), tape.IsRecording);
        AttentionKernel<float>.AdditiveScores(B, T, A, lengths, hidden, offset.Value.Data, A, v.Value.Data, weights);
        AttentionKernel<float>.MaskedSoftmax(B, T, lengths, weights);
        AttentionKernel<float>.Pool(B, T, F, lengths, weights, values.Value.Data, context.Value.Data);
        tape.Record(() =>
        {
            var dScores = new float[B * T];
            AttentionKernel<float>.PoolBackward(B, T, F, lengths, weights, values.Value.Data, context.Grad.Data, dScores,
                values.RequiresGrad ? values.Grad.Data : new float[values.Value.Length]);
            AttentionKernel<float>.MaskedSoftmaxBackward(B, T, lengths, weights, dScores, dScores);
            AttentionKernel<float>.AdditiveScoresBackward(B, T, A, lengths, hidden, v.Value.Data, dScores,
                projected.RequiresGrad ? projected.Grad.Data : new float[projected.Value.Length],
                offset.RequiresGrad ? offset.Grad.Data : new float[offset.Value.Length], A, v.Grad.Data);
        });
        return (context, weights);
    }

    /// <summary>
    /// <paramref name="spec"/> with the encoder–decoder of <paramref name="c"/> (<c>--decoder attention</c>, scored as
    /// <c>--attention</c>, dot by default), checked: single-target forecasting with a one-directional encoder.
    /// </summary>
    public static SequenceModelSpec Apply(SequenceModelSpec spec, TrainConfig c, int targets)
    {
        if (c.TeacherForcing is double p && !(p >= 0 && p <= 1))
            throw new InvalidInputException($"--teacher-forcing: expected a probability in [0, 1]; found {p.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        switch (c.Decoder?.Trim().ToLowerInvariant())
        {
            case null or "none": return spec;
            case "attention": break;
            default: throw new InvalidInputException($"--decoder: expected none or attention; found '{c.Decoder}'.");
        }
        if (targets != 1)
            throw new InvalidInputException($"--decoder attention forecasts one target column step by step; found {targets} targets. Train one model per target, or without --decoder.");
        if (spec.Bidirectional)
            throw new InvalidInputException("--decoder attention: the decoder starts from the encoder's final state, so the encoder cannot be --bidirectional.");
        var kind = spec.Attention == AttentionKind.None ? AttentionKind.Dot : spec.Attention;
        return spec with { Attention = AttentionKind.None, DecoderAttention = kind };
    }
}
