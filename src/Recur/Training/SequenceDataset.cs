using Recur.Models;
using Recur.Tensors;

namespace Recur.Training;

/// <summary>
/// N sequences with their targets, ready for batching. Inputs are numeric values [N, T, F] or token ids [N, T],
/// right-padded to T steps when <see cref="Lengths"/> [N] says how many steps each really has. Targets are
/// regression values [N, O], class indices [N], one class index per step [N, T] (tagging, language modelling;
/// padded steps are masked out of every loss and metric), or O regression values per step [N, T, O] with a step
/// mask [N, T] (stateful forecasting: steps without a complete target count nothing).
/// </summary>
public sealed class SequenceDataset
{
    private SequenceDataset(int count, int steps, int features, float[]? values, int[]? tokens, float[]? targets, int outputs,
        int[]? labels, int[]? stepLabels, int[]? lengths)
    {
        (Count, Steps, Features, Values, Tokens, Targets, Outputs, Labels) = (count, steps, features, values, tokens, targets, outputs, labels);
        (StepLabels, Lengths) = (stepLabels, lengths);
        if (lengths is not null)
        {
            Check(lengths.Length, count, "lengths [N]");
            foreach (int length in lengths)
                if (length < 1 || length > steps) throw new ArgumentException($"Dataset lengths must lie in [1, {steps}]; found {length}.");
        }
    }

    /// <summary>values: [N, T, F]; targets: [N, O].</summary>
    public static SequenceDataset Regression(float[] values, int count, int steps, int features, float[] targets, int outputs)
    {
        Check(values.Length, count * steps * features, "values [N, T, F]");
        Check(targets.Length, count * outputs, "targets [N, O]");
        return new(count, steps, features, values, null, targets, outputs, null, null, null);
    }

    /// <summary>Numeric sequences [N, T, F] with class labels [N]; lengths [N] when right-padded.</summary>
    public static SequenceDataset Classification(float[] values, int count, int steps, int features, int[] labels, int[]? lengths = null)
    {
        Check(values.Length, count * steps * features, "values [N, T, F]");
        Check(labels.Length, count, "labels [N]");
        return new(count, steps, features, values, null, null, 0, labels, null, lengths);
    }

    /// <summary>Token sequences [N, T] with class labels [N]; lengths [N] when right-padded.</summary>
    public static SequenceDataset TokenClassification(int[] tokens, int count, int steps, int[] labels, int[]? lengths = null)
    {
        Check(tokens.Length, count * steps, "tokens [N, T]");
        Check(labels.Length, count, "labels [N]");
        return new(count, steps, 0, null, tokens, null, 0, labels, null, lengths);
    }

    /// <summary>
    /// One label per step: numeric sequences values [N, T, F] (tokens null) or token ids tokens [N, T] (values null),
    /// step labels [N, T], lengths [N] (null: every sequence has T steps).
    /// </summary>
    public static SequenceDataset PerStep(float[]? values, int[]? tokens, int count, int steps, int features, int[] stepLabels, int[]? lengths)
    {
        if ((values is null) == (tokens is null)) throw new ArgumentException("A per-step dataset holds either numeric values or token ids.");
        if (values is not null) Check(values.Length, count * steps * features, "values [N, T, F]");
        if (tokens is not null) Check(tokens.Length, count * steps, "tokens [N, T]");
        Check(stepLabels.Length, count * steps, "step labels [N, T]");
        return new(count, steps, tokens is null ? features : 0, values, tokens, null, 0, null, stepLabels, lengths);
    }

    /// <summary>
    /// O regression targets per step: values [N, T, F], stepTargets [N, T, O], stepMask [N, T] (1: the step's
    /// targets count in the loss; 0: padding, or a step whose targets are not all known).
    /// </summary>
    public static SequenceDataset PerStepRegression(float[] values, int count, int steps, int features, float[] stepTargets, int outputs, float[] stepMask)
    {
        Check(values.Length, count * steps * features, "values [N, T, F]");
        Check(stepTargets.Length, count * steps * outputs, "step targets [N, T, O]");
        Check(stepMask.Length, count * steps, "step mask [N, T]");
        return new(count, steps, features, values, null, null, outputs, null, null, null) { StepTargets = stepTargets, StepMask = stepMask };
    }

    /// <summary>
    /// Source token ids [N, T] with lengths [N], and target ids [N, U] with lengths [N] (each row its target ids then
    /// the end token, right-padded): an encoder–decoder's training pairs.
    /// </summary>
    public static SequenceDataset SequenceToSequence(int[] sourceTokens, int count, int steps, int[] sourceLengths,
        int[] targetTokens, int targetSteps, int[] targetLengths)
    {
        Check(sourceTokens.Length, count * steps, "source tokens [N, T]");
        Check(targetTokens.Length, count * targetSteps, "target tokens [N, U]");
        Check(targetLengths.Length, count, "target lengths [N]");
        foreach (int length in targetLengths)
            if (length < 1 || length > targetSteps) throw new ArgumentException($"Dataset target lengths must lie in [1, {targetSteps}]; found {length}.");
        return new(count, steps, 0, null, sourceTokens, null, 0, null, null, sourceLengths)
        {
            TargetTokens = targetTokens, TargetSteps = targetSteps, TargetLengths = targetLengths,
        };
    }

    public int Count { get; }

    /// <summary>T: steps per stored sequence (the padded length when <see cref="Lengths"/> is set).</summary>
    public int Steps { get; }
    public int Features { get; }
    public float[]? Values { get; }
    public int[]? Tokens { get; }
    public float[]? Targets { get; }
    public int Outputs { get; }
    public int[]? Labels { get; }

    /// <summary>[N, T] class index per step (per-step tasks); values at padded steps are never read.</summary>
    public int[]? StepLabels { get; }

    /// <summary>[N] real steps per sequence; null when every sequence has <see cref="Steps"/> steps.</summary>
    public int[]? Lengths { get; }

    /// <summary>[N, T, O] regression targets per step (<see cref="PerStepRegression"/>); null otherwise.</summary>
    public float[]? StepTargets { get; private init; }

    /// <summary>[N, T] weight of each step's targets (1 or 0), beside <see cref="StepTargets"/>.</summary>
    public float[]? StepMask { get; private init; }

    public bool IsPerStepRegression => StepTargets is not null;

    /// <summary>[N, U] target ids of an encoder–decoder's pairs (see <see cref="SequenceToSequence"/>).</summary>
    public int[]? TargetTokens { get; private init; }

    /// <summary>U: steps per stored target row.</summary>
    public int TargetSteps { get; private init; }

    /// <summary>[N] real target steps per pair (the end token included).</summary>
    public int[]? TargetLengths { get; private init; }

    public bool IsSequenceToSequence => TargetTokens is not null;

    public bool IsClassification => Labels is not null || StepLabels is not null;
    public bool IsPerStep => StepLabels is not null;

    /// <summary>Real steps of sequence <paramref name="row"/>.</summary>
    public int Length(int row) => Lengths?[row] ?? Steps;

    /// <summary>Per-class loss weights [C] for imbalanced labels (PyTorch's <c>weight</c>); null weighs every class 1.</summary>
    public float[]? ClassWeights { get; private init; }

    /// <summary>The same sequences and labels with per-class loss weights [C].</summary>
    public SequenceDataset WithClassWeights(float[]? weights) =>
        new(Count, Steps, Features, Values, Tokens, Targets, Outputs, Labels, StepLabels, Lengths)
            { ClassWeights = weights, Streams = Streams, StepTargets = StepTargets, StepMask = StepMask };

    /// <summary>
    /// S &gt; 0 when the rows are consecutive windows of S parallel streams, window-major: row i·S + s is window i
    /// of stream s, and window i + 1 of a stream continues where window i ended (PyTorch's <c>batchify</c> layout).
    /// Stateful training (<see cref="TrainingOptions.Stateful"/>) and stateful scoring run batch i = window i of
    /// every stream, in order, carrying the recurrent state between batches. 0: independent sequences.
    /// </summary>
    public int Streams { get; private init; }

    /// <summary>Windows per stream (batches per stateful epoch): <see cref="Count"/> / <see cref="Streams"/>.</summary>
    public int WindowsPerStream => Streams > 0 ? Count / Streams : 0;

    /// <summary>These rows declared as window-major windows of <paramref name="streams"/> streams (see <see cref="Streams"/>).</summary>
    public SequenceDataset WithStreams(int streams)
    {
        if (streams < 1 || Count % streams != 0)
            throw new ArgumentException($"Dataset of {Count} windows cannot be {streams} streams: the window count must be a multiple of the stream count.", nameof(streams));
        if (!IsPerStep && !IsPerStepRegression) throw new ArgumentException("Streams need targets at every step (a per-step dataset).", nameof(streams));
        return new(Count, Steps, Features, Values, Tokens, Targets, Outputs, Labels, StepLabels, Lengths)
            { ClassWeights = ClassWeights, Streams = streams, StepTargets = StepTargets, StepMask = StepMask };
    }

    /// <summary>
    /// A token stream as <paramref name="streams"/> contiguous streams in windows of <paramref name="window"/> steps
    /// (PyTorch's <c>batchify</c>): stream s holds tokens [s·P, (s+1)·P) with P = ⌊n / streams⌋ (the remainder is
    /// dropped), predicts its tokens 1 … P−1 from the ones before, and is cut into ⌈(P−1)/window⌉ windows; the last may
    /// be shorter (then <see cref="Lengths"/> marks it). With one stream every token after the first is a target.
    /// </summary>
    public static SequenceDataset TokenStreams(IReadOnlyList<int> ids, int streams, int window)
    {
        if (streams < 1) throw new ArgumentOutOfRangeException(nameof(streams), streams, "streams must be at least 1.");
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "window must be at least 1.");
        int perStream = ids.Count / streams, predicted = perStream - 1;
        if (predicted < 1) throw new ArgumentException($"{ids.Count} tokens cannot make {streams} streams of at least 2 tokens.", nameof(ids));
        int steps = Math.Min(window, predicted), windows = (predicted + steps - 1) / steps, count = windows * streams;
        var tokens = new int[count * steps];
        var labels = new int[count * steps];
        int last = predicted - (windows - 1) * steps;
        var lengths = last < steps ? new int[count] : null;
        for (int i = 0; i < windows; i++)
            for (int s = 0; s < streams; s++)
            {
                int row = i * streams + s, length = i == windows - 1 ? last : steps;
                if (lengths is not null) lengths[row] = length;
                for (int t = 0; t < length; t++)
                {
                    int at = s * perStream + i * steps + t;
                    tokens[row * steps + t] = ids[at];
                    labels[row * steps + t] = ids[at + 1];
                }
            }
        return PerStep(null, tokens, count, steps, 0, labels, lengths).WithStreams(streams);
    }

    /// <summary>
    /// The per-class loss weights <c>--class-weights</c> asks for: none (null) or balanced (<see cref="BalancedWeights"/>
    /// over the training labels).
    /// </summary>
    public static float[]? ClassWeightsFor(string? option, ReadOnlySpan<int> trainingLabels, int classes) =>
        (option ?? "none").ToLowerInvariant() switch
        {
            "none" => null,
            "balanced" => BalancedWeights(trainingLabels, classes),
            _ => throw new InvalidInputException($"--class-weights: expected none or balanced; found '{option}'."),
        };

    /// <summary>
    /// sklearn's "balanced" weights from these labels: w_c = N / (C · n_c), so every class carries the same total
    /// weight; a class absent here gets weight 1.
    /// </summary>
    public static float[] BalancedWeights(ReadOnlySpan<int> labels, int classes)
    {
        var counts = new int[classes];
        foreach (int label in labels) counts[label]++;
        var weights = new float[classes];
        for (int c = 0; c < classes; c++) weights[c] = counts[c] == 0 ? 1f : (float)(labels.Length / ((double)classes * counts[c]));
        return weights;
    }

    /// <summary>
    /// The inputs of the given rows, in that order, padded only to the longest of them; with
    /// <paramref name="lastSteps"/>, only each sequence's last real steps (the most recent values, or a text's last
    /// tokens), as a length curriculum feeds them.
    /// </summary>
    public SequenceBatch Inputs(ReadOnlySpan<int> rows, int? lastSteps = null)
    {
        int B = rows.Length, cap = Math.Clamp(lastSteps ?? Steps, 1, Steps);
        var lengths = new int[B];
        int L = 0;
        for (int b = 0; b < B; b++) L = Math.Max(L, lengths[b] = Math.Min(Length(rows[b]), cap));
        bool padded = Lengths is not null;
        int F = Math.Max(Features, 1);
        var tokens = Tokens is null ? null : new int[B * L];
        var values = Values is null ? null : new Tensor(B, L, F);
        for (int b = 0; b < B; b++)
        {
            int skip = Length(rows[b]) - lengths[b];
            int source = rows[b] * Steps + skip;
            if (tokens is not null) Tokens.AsSpan(source, lengths[b]).CopyTo(tokens.AsSpan(b * L));
            else Values.AsSpan(source * F, lengths[b] * F).CopyTo(values!.Data.AsSpan(b * L * F));
        }
        var batch = new SequenceBatch(B, L, values, tokens) { Lengths = padded ? lengths : null };
        return IsSequenceToSequence ? WithTargets(batch, rows) : batch;
    }

    /// <summary>The batch with its rows' target ids [B, U'] padded to the longest of them, and their lengths.</summary>
    private SequenceBatch WithTargets(SequenceBatch batch, ReadOnlySpan<int> rows)
    {
        int B = rows.Length, U = 0;
        var lengths = new int[B];
        for (int b = 0; b < B; b++) U = Math.Max(U, lengths[b] = TargetLengths![rows[b]]);
        var targets = new int[B * U];
        for (int b = 0; b < B; b++) TargetTokens.AsSpan(rows[b] * TargetSteps, lengths[b]).CopyTo(targets.AsSpan(b * U));
        return batch with { DecoderTokens = targets, DecoderSteps = U, DecoderLengths = lengths };
    }

    /// <summary>Regression targets [B, O] of the given rows.</summary>
    public Tensor TargetBatch(ReadOnlySpan<int> rows)
    {
        var y = new Tensor(rows.Length, Outputs);
        for (int b = 0; b < rows.Length; b++) Targets.AsSpan(rows[b] * Outputs, Outputs).CopyTo(y.Data.AsSpan(b * Outputs));
        return y;
    }

    public int[] LabelBatch(ReadOnlySpan<int> rows)
    {
        var labels = new int[rows.Length];
        for (int b = 0; b < rows.Length; b++) labels[b] = Labels![rows[b]];
        return labels;
    }

    /// <summary>
    /// Per-step labels [B, L] and mask [B, L] (1 on real steps) of the given rows for a batch laid out as
    /// <paramref name="batch"/> (<see cref="Inputs"/> of the same rows): the labels of the steps it holds.
    /// </summary>
    public (int[] Labels, Tensor Mask) StepLabelBatch(ReadOnlySpan<int> rows, SequenceBatch batch)
    {
        int B = rows.Length, L = batch.Steps;
        var labels = new int[B * L];
        var mask = new Tensor(B, L);
        for (int b = 0; b < B; b++)
        {
            int length = batch.Lengths?[b] ?? L, skip = Length(rows[b]) - length;
            StepLabels.AsSpan(rows[b] * Steps + skip, length).CopyTo(labels.AsSpan(b * L));
            mask.Data.AsSpan(b * L, length).Fill(1f);
        }
        return (labels, mask);
    }

    /// <summary>
    /// Per-step regression targets [B, L, O] and step mask [B, L] of the given rows (whole windows: these datasets
    /// are never right-padded, their mask marks the steps that count).
    /// </summary>
    public (Tensor Targets, Tensor Mask) StepTargetBatch(ReadOnlySpan<int> rows)
    {
        int B = rows.Length, L = Steps, O = Outputs;
        var targets = new Tensor(B, L, O);
        var mask = new Tensor(B, L);
        for (int b = 0; b < B; b++)
        {
            StepTargets.AsSpan(rows[b] * L * O, L * O).CopyTo(targets.Data.AsSpan(b * L * O));
            StepMask.AsSpan(rows[b] * L, L).CopyTo(mask.Data.AsSpan(b * L));
        }
        return (targets, mask);
    }

    /// <summary>
    /// What a batch of the given rows weighs in a mean loss: its real steps for per-step classification, the steps
    /// whose targets count for per-step regression, its real target steps for pairs, else its sequences.
    /// </summary>
    public int Weight(ReadOnlySpan<int> rows, SequenceBatch batch)
    {
        if (IsPerStepRegression)
        {
            double counted = 0;
            foreach (int row in rows) counted += System.Numerics.Tensors.TensorPrimitives.Sum(StepMask.AsSpan(row * Steps, Steps));
            return (int)counted;
        }
        return batch.DecoderLengths is { } targets ? targets.Sum()
            : !IsPerStep ? batch.Batch : batch.Lengths is { } lengths ? lengths.Sum() : batch.Batch * batch.Steps;
    }

    private static void Check(int found, int expected, string what)
    {
        if (found != expected) throw new ArgumentException($"Dataset {what} needs {expected} values; found {found}.");
    }
}
