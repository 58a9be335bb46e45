using Recur.Autograd;
using Recur.Layers;
using Recur.Randomness;
using Recur.Tensors;
using Recur.Training;

namespace Recur.Models;

/// <summary>
/// The decoder of an encoder–decoder forecaster (<c>--decoder attention</c>): an LSTM/GRU/RNN stack of the encoder's
/// shape, started from the encoder's final state and stepped once per forecast step. Step s reads
/// [previous value; previous context] [B, 1 + F] (the window's last value and a zero context at step 1), attends
/// over the encoder outputs [B, T, F] with its new state as the query (Luong: score = (W s)ᵀ h_t / √F; Bahdanau:
/// vᵀ tanh(K h_t + U s + b)), and predicts the value from [state; context] [B, H + F] with a dense head. While
/// training (targets given) the previous value is the true one, or with the sampling probability the model's own
/// previous prediction (scheduled sampling, Bengio et al. 2015; no gradient flows through the fed prediction); at
/// inference always its own. Parameters: <c>decoder.*</c> (PyTorch names), <c>decoder_attention.*</c>,
/// <c>decoder_head.*</c>.
/// </summary>
public sealed class AttentionDecoder : Module
{
    private readonly IRecurrentLayer _cell;
    private readonly Dense? _query, _keys, _state;
    private readonly Parameter? _v;
    private readonly Dense _head;

    public AttentionDecoder(CellKind cell, AttentionKind attention, int features, int hidden, int layers, int steps, RecurRandom random) : base("decoder")
    {
        if (attention == AttentionKind.None) throw new ArgumentException("The decoder needs additive or dot attention.", nameof(attention));
        (Kind, Features, Steps) = (attention, features, steps);
        _cell = RecurrentLayers.Create(cell, "decoder", 1 + features, hidden, layers, null, random);
        if (attention == AttentionKind.Dot)
        {
            _query = new Dense("decoder_attention.query", hidden, features, useBias: false, random: random);
            Parameters = [.. _cell.Parameters, .. _query.Parameters];
        }
        else
        {
            _keys = new Dense("decoder_attention.key", features, features, useBias: false, random: random);
            _state = new Dense("decoder_attention.state", hidden, features, random: random);
            _v = new Parameter("decoder_attention.v", new Tensor(features));
            Initialization.Initializers.Uniform(_v.Value.Span, 1 / Math.Sqrt(features), random);
            Parameters = [.. _cell.Parameters, .. _keys.Parameters, .. _state.Parameters, _v];
        }
        _head = new Dense("decoder_head", hidden + features, 1, random: random);
        Parameters = [.. Parameters, .. _head.Parameters];
    }

    public AttentionKind Kind { get; }
    public int Features { get; }
    public int Steps { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    public override string ToString() => $"AttentionDecoder({AttentionKinds.Name(Kind)}, {_cell}, {Steps} steps) → {_head}";

    /// <summary>
    /// encoder: outputs [B, T, F] (right-padded by <paramref name="lengths"/>), final states h0, c0 [L, B, H];
    /// first: each sequence's last value [B]; targets [B, Steps] (training only, null at inference) → [B, Steps].
    /// <paramref name="teacherChoices"/> fixes which steps are fed the true value (tests): [B·Steps], row-major.
    /// </summary>
    public Variable Forward(Tape tape, Variable encoder, int[]? lengths, Variable h0, Variable? c0, float[] first, Tensor? targets,
        double samplingProbability, RecurRandom? random, bool[]? teacherChoices = null)
    {
        int B = encoder.Value.Dim(0), F = Features;
        var lens = lengths is null ? [] : (int[])lengths.Clone();
        var projected = _keys?.Forward(tape, encoder);
        var context = new Variable(new Tensor(B, F));
        var previous = (float[])first.Clone();
        Variable hidden = h0;
        Variable? cell = c0;
        var outputs = new Variable[Steps];
        for (int s = 0; s < Steps; s++)
        {
            var input = Concat(tape, [B, 1, 1 + F], new Variable(new Tensor(previous, B, 1)), context);
            var step = _cell.Forward(tape, input, hidden, cell);
            (hidden, cell) = (step.HiddenState, step.CellState);
            var state = TimeSteps.At(tape, step.Output, 0);
            context = Kind == AttentionKind.Dot
                ? DotStep(tape, encoder, _query!.Forward(tape, state), lens)
                : AdditiveStep(tape, encoder, projected!, _state!.Forward(tape, state), _v!, lens);
            var y = _head.Forward(tape, Concat(tape, [B, state.Value.Dim(1) + F], state, context));
            outputs[s] = y;
            var next = new float[B];
            for (int b = 0; b < B; b++)
            {
                bool teacher = targets is not null && (teacherChoices is not null ? teacherChoices[b * Steps + s]
                    : !(samplingProbability > 0 && random is not null && random.NextDouble() < samplingProbability));
                next[b] = teacher ? targets!.Data[b * Steps + s] : y.Value.Data[b];
            }
            previous = next;
        }
        return Concat(tape, [B, Steps], outputs);
    }

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

    /// <summary>Luong: keys [B, T, F], query [B, F] → context [B, F].</summary>
    private static Variable DotStep(Tape tape, Variable keys, Variable query, int[] lengths)
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
        return context;
    }

    /// <summary>Bahdanau: values [B, T, F], projected keys [B, T, A], offset [B, A] (U s + b), v [A] → context [B, F].</summary>
    private static Variable AdditiveStep(Tape tape, Variable values, Variable projected, Variable offset, Parameter v, int[] lengths)
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
        return context;
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
