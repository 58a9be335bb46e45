using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace Recur.Losses;

/// <summary>
/// Softmax cross-entropy on logits with integer class targets, as PyTorch's <c>CrossEntropyLoss(weight)</c>
/// (mean reduction), plus a per-row mask for padded steps. For row n with target class tₙ:
/// <code>
/// ℓₙ   = log Σ_c exp(logits[n, c]) − logits[n, tₙ]      (log-sum-exp after subtracting the row max)
/// wₙ   = mask[n] · classWeights[tₙ]                      (each factor 1 when not given)
/// loss = Σₙ wₙ ℓₙ / Σₙ wₙ
/// </code>
/// Shapes: logits, dLogits <c>[N, C]</c> row-major; targets <c>[N]</c>; mask <c>[N]</c>; classWeights <c>[C]</c>.
/// N is rows (sequences or steps), C is classes. An empty mask or class-weight span means "not given".
/// Rows with mask 0 are skipped entirely — their target is not read, so padded steps may carry any label.
/// When Σₙ wₙ = 0 (e.g. an all-zero mask) the loss is 0 and the gradient is zero.
/// Sums accumulate in double whatever the number type T is; the exponentials are taken in T, a row at a time (vectorised).
/// </summary>
public static class SoftmaxCrossEntropy
{
    /// <param name="logits">[N, C] unnormalised class scores.</param>
    /// <param name="targets">[N] class indices in [0, C) (rows with mask 0 excepted).</param>
    /// <param name="classes">C, the number of classes.</param>
    /// <param name="mask">[N] non-negative row weights, 0 for padded steps; empty for all ones.</param>
    /// <param name="classWeights">[C] non-negative class weights (PyTorch's <c>weight</c>); empty for all ones.</param>
    public static T Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> targets, int classes,
        ReadOnlySpan<T> mask = default, ReadOnlySpan<T> classWeights = default)
        where T : IFloatingPointIeee754<T>
    {
        Validate(logits, targets, classes, mask, classWeights);
        double weightedSum = 0, weightTotal = 0;
        var exps = ArrayPool<T>.Shared.Rent(classes);
        for (int n = 0; n < targets.Length; n++)
        {
            double weight = RowWeight(targets, classes, mask, classWeights, n);
            if (weight == 0) continue;
            ReadOnlySpan<T> row = logits.Slice(n * classes, classes);
            T max = TensorPrimitives.Max(row);
            double expSum = ShiftedExps(row, max, exps.AsSpan(0, classes));
            // ℓ = log Σ exp(row) − row[t] = (max − row[t]) + log Σ exp(row − max)
            double rowLoss = double.CreateTruncating(max - row[targets[n]]) + Math.Log(expSum);
            weightedSum += weight * rowLoss;
            weightTotal += weight;
        }
        ArrayPool<T>.Shared.Return(exps);
        return weightTotal == 0 ? T.Zero : T.CreateTruncating(weightedSum / weightTotal);
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂logits</c> into <paramref name="dLogits"/> ([N, C]).</summary>
    public static void Backward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> targets, int classes, T dLoss,
        Span<T> dLogits, ReadOnlySpan<T> mask = default, ReadOnlySpan<T> classWeights = default)
        where T : IFloatingPointIeee754<T>
    {
        Validate(logits, targets, classes, mask, classWeights);
        LossGuard.GradientLength(dLogits, logits.Length, nameof(dLogits));
        double weightTotal = 0;
        for (int n = 0; n < targets.Length; n++)
            weightTotal += RowWeight(targets, classes, mask, classWeights, n);
        if (weightTotal == 0) return;
        var scratch = ArrayPool<T>.Shared.Rent(classes);
        var exps = scratch.AsSpan(0, classes);
        for (int n = 0; n < targets.Length; n++)
        {
            double weight = RowWeight(targets, classes, mask, classWeights, n);
            if (weight == 0) continue;
            ReadOnlySpan<T> row = logits.Slice(n * classes, classes);
            Span<T> dRow = dLogits.Slice(n * classes, classes);
            double expSum = ShiftedExps(row, TensorPrimitives.Max(row), exps);
            // ∂ℓₙ/∂logits[n, c] = softmax(row)_c − [c = tₙ], weighted by wₙ / Σ w
            T scale = dLoss * T.CreateTruncating(weight / weightTotal);
            TensorPrimitives.MultiplyAdd(exps, scale * T.CreateTruncating(1.0 / expSum), dRow, dRow);
            dRow[targets[n]] -= scale;
        }
        ArrayPool<T>.Shared.Return(scratch);
    }

    /// <summary>exps = exp(row − max), vectorised; returns Σ exps accumulated in double.</summary>
    private static double ShiftedExps<T>(ReadOnlySpan<T> row, T max, Span<T> exps) where T : IFloatingPointIeee754<T>
    {
        TensorPrimitives.Subtract(row, max, exps);
        TensorPrimitives.Exp<T>(exps, exps);
        double sum = 0;
        foreach (var e in exps) sum += double.CreateTruncating(e);
        return sum;
    }

    /// <summary>wₙ = mask[n] · classWeights[tₙ]; checks tₙ only for rows that count.</summary>
    private static double RowWeight<T>(ReadOnlySpan<int> targets, int classes, ReadOnlySpan<T> mask,
        ReadOnlySpan<T> classWeights, int n)
        where T : IFloatingPointIeee754<T>
    {
        double weight = mask.IsEmpty ? 1 : double.CreateTruncating(mask[n]);
        if (weight == 0) return 0;
        int target = targets[n];
        if ((uint)target >= (uint)classes)
            throw new ArgumentException(
                $"targets[{n}] = {target} is not a class index: expected a value in [0, {classes}) for logits with " +
                $"{classes} classes. Mask padded rows with 0 if they carry a placeholder label.", nameof(targets));
        if (!classWeights.IsEmpty) weight *= double.CreateTruncating(classWeights[target]);
        return weight;
    }

    private static void Validate<T>(ReadOnlySpan<T> logits, ReadOnlySpan<int> targets, int classes,
        ReadOnlySpan<T> mask, ReadOnlySpan<T> classWeights)
        where T : IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        if ((long)targets.Length * classes != logits.Length)
            throw new ArgumentException(
                $"logits has {logits.Length} elements; expected N·C = {targets.Length}·{classes} = " +
                $"{(long)targets.Length * classes} for {targets.Length} targets and {classes} classes.", nameof(logits));
        if (!mask.IsEmpty && mask.Length != targets.Length)
            throw new ArgumentException(
                $"mask has {mask.Length} elements; expected one per target row, N = {targets.Length}.", nameof(mask));
        if (!classWeights.IsEmpty && classWeights.Length != classes)
            throw new ArgumentException(
                $"classWeights has {classWeights.Length} elements; expected one per class, C = {classes}.",
                nameof(classWeights));
        LossGuard.NonNegative(mask, nameof(mask));
        LossGuard.NonNegative(classWeights, nameof(classWeights));
    }
}
