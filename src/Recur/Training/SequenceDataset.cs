using Recur.Models;
using Recur.Tensors;

namespace Recur.Training;

/// <summary>
/// N sequences with their targets, ready for batching. Inputs are numeric values [N, T, F] or token ids [N, T],
/// right-padded to T steps when <see cref="Lengths"/> [N] says how many steps each really has. Targets are
/// regression values [N, O], class indices [N], or one class index per step [N, T] (tagging, language modelling;
/// padded steps are masked out of every loss and metric).
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

    public bool IsClassification => Labels is not null || StepLabels is not null;
    public bool IsPerStep => StepLabels is not null;

    /// <summary>Real steps of sequence <paramref name="row"/>.</summary>
    public int Length(int row) => Lengths?[row] ?? Steps;

    /// <summary>Per-class loss weights [C] for imbalanced labels (PyTorch's <c>weight</c>); null weighs every class 1.</summary>
    public float[]? ClassWeights { get; private init; }

    /// <summary>The same sequences and labels with per-class loss weights [C].</summary>
    public SequenceDataset WithClassWeights(float[]? weights) =>
        new(Count, Steps, Features, Values, Tokens, Targets, Outputs, Labels, StepLabels, Lengths) { ClassWeights = weights };

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
        return new SequenceBatch(B, L, values, tokens) { Lengths = padded ? lengths : null };
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

    /// <summary>What a batch weighs in a mean loss: its real steps for per-step tasks, else its sequences.</summary>
    public int Weight(SequenceBatch batch) =>
        !IsPerStep ? batch.Batch : batch.Lengths is { } lengths ? lengths.Sum() : batch.Batch * batch.Steps;

    private static void Check(int found, int expected, string what)
    {
        if (found != expected) throw new ArgumentException($"Dataset {what} needs {expected} values; found {found}.");
    }
}
