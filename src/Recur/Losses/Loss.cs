using Recur.Autograd;
using Recur.Tensors;
using BceKernel = Recur.Losses.BinaryCrossEntropy;
using BceWithLogitsKernel = Recur.Losses.BinaryCrossEntropyWithLogits;
using CrossEntropyKernel = Recur.Losses.SoftmaxCrossEntropy;
using HuberKernel = Recur.Losses.Huber;
using MaeKernel = Recur.Losses.MeanAbsoluteError;
using MseKernel = Recur.Losses.MeanSquaredError;

namespace Recur.Losses;

/// <summary>
/// Loss operations on a <see cref="Tape"/>: each computes its float32 kernel forward now, returns the loss as a
/// scalar <see cref="Variable"/> (shape [1], requiring a gradient when the prediction does) and records a backward
/// step that adds <c>loss.Grad · ∂loss/∂prediction</c> into <c>prediction.Grad</c>.
/// Dimension letters: N rows (sequences or time steps, leading dimensions flattened), C classes (last dimension).
/// Targets, masks and weights are read again by the backward step: leave them unchanged until it has run.
/// </summary>
public static class Loss
{
    /// <summary>Mean squared error. prediction and target: same shape, any rank.</summary>
    public static Variable MeanSquaredError(Tape tape, Variable prediction, Tensor target)
    {
        RequireSameShape(prediction, target);
        float loss = MseKernel.Forward<float>(prediction.Value.Data, target.Data);
        return Scalar(tape, prediction, loss, dLoss =>
            MseKernel.Backward<float>(prediction.Value.Data, target.Data, dLoss, prediction.Grad.Data));
    }

    /// <summary>
    /// Mean squared error over the rows with mask 1 (per-step regression: padded steps and steps without a complete
    /// target are left out). prediction, target: [N, C] or [..., C]; rowMask: the leading dimensions, [N].
    /// </summary>
    public static Variable MaskedMeanSquaredError(Tape tape, Variable prediction, Tensor target, Tensor rowMask)
    {
        RequireSameShape(prediction, target);
        if (prediction.Value.Rank < 2 || rowMask.Length * prediction.Value.Dim(-1) != prediction.Value.Length)
            throw new ArgumentException($"rowMask must hold one weight per row of prediction {prediction.Value.ShapeText}; found {rowMask.ShapeText}.", nameof(rowMask));
        float loss = MseKernel.Forward<float>(prediction.Value.Data, target.Data, rowMask.Data);
        return Scalar(tape, prediction, loss, dLoss =>
            MseKernel.Backward<float>(prediction.Value.Data, target.Data, rowMask.Data, dLoss, prediction.Grad.Data));
    }

    /// <summary>Mean absolute error (L1). prediction and target: same shape, any rank.</summary>
    public static Variable MeanAbsoluteError(Tape tape, Variable prediction, Tensor target)
    {
        RequireSameShape(prediction, target);
        float loss = MaeKernel.Forward<float>(prediction.Value.Data, target.Data);
        return Scalar(tape, prediction, loss, dLoss =>
            MaeKernel.Backward<float>(prediction.Value.Data, target.Data, dLoss, prediction.Grad.Data));
    }

    /// <summary>Huber loss with threshold <paramref name="delta"/>. prediction and target: same shape, any rank.</summary>
    public static Variable Huber(Tape tape, Variable prediction, Tensor target, double delta = 1.0)
    {
        RequireSameShape(prediction, target);
        float loss = HuberKernel.Forward<float>(prediction.Value.Data, target.Data, delta);
        return Scalar(tape, prediction, loss, dLoss =>
            HuberKernel.Backward<float>(prediction.Value.Data, target.Data, dLoss, prediction.Grad.Data, delta));
    }

    /// <summary>
    /// Softmax cross-entropy (see <see cref="CrossEntropyKernel"/>).
    /// </summary>
    /// <param name="tape">The tape recording the backward step.</param>
    /// <param name="logits">[N, C], or [..., C] with the leading dimensions flattened into N.</param>
    /// <param name="targets">[N] class indices in [0, C); rows with mask 0 may hold anything.</param>
    /// <param name="mask">[N] (or the leading dimensions of logits) row weights, 0 for padded steps; null for all ones.</param>
    /// <param name="classWeights">[C] per-class weights as PyTorch's <c>weight</c>; null for all ones.</param>
    public static Variable SoftmaxCrossEntropy(Tape tape, Variable logits, int[] targets, Tensor? mask = null,
        Tensor? classWeights = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        Tensor value = logits.Value;
        if (value.Rank < 2 || value.Dim(-1) == 0)
            throw new ArgumentException(
                $"logits must have shape [N, C] (or [..., C]) with C ≥ 1 classes; found {value.ShapeText}.",
                nameof(logits));
        int classes = value.Dim(-1);
        int rows = value.Length / classes;
        string rowsText = "[" + string.Join(", ", value.Shape[..^1]) + "]";
        if (targets.Length != rows)
            throw new ArgumentException(
                $"targets must have one class index per logits row: expected [{rows}] for logits {value.ShapeText}; " +
                $"found [{targets.Length}].", nameof(targets));
        if (mask is not null && mask.Length != rows)
            throw new ArgumentException(
                $"mask must have one weight per logits row: expected [{rows}] or {rowsText} for logits " +
                $"{value.ShapeText}; found {mask.ShapeText}.", nameof(mask));
        if (classWeights is not null && (classWeights.Rank != 1 || classWeights.Length != classes))
            throw new ArgumentException(
                $"classWeights must have one weight per class: expected [{classes}] for logits {value.ShapeText}; " +
                $"found {classWeights.ShapeText}.", nameof(classWeights));
        float loss = CrossEntropyKernel.Forward<float>(value.Data, targets, classes, Span(mask), Span(classWeights));
        return Scalar(tape, logits, loss, dLoss =>
            CrossEntropyKernel.Backward<float>(value.Data, targets, classes, dLoss, logits.Grad.Data,
                Span(mask), Span(classWeights)));
    }

    /// <summary>Binary cross-entropy on logits (see <see cref="BceWithLogitsKernel"/>).</summary>
    /// <param name="tape">The tape recording the backward step.</param>
    /// <param name="logits">Raw scores, any shape [..., C].</param>
    /// <param name="target">Same shape as logits: positive-class probabilities (0/1 labels or soft).</param>
    /// <param name="posWeight">[C] weight of positive examples per last-dimension column; null for all ones.</param>
    public static Variable BinaryCrossEntropyWithLogits(Tape tape, Variable logits, Tensor target,
        Tensor? posWeight = null)
    {
        RequireSameShape(logits, target, nameof(logits));
        if (posWeight is not null)
        {
            int columns = logits.Value.Rank == 0 ? 1 : logits.Value.Dim(-1);
            if (posWeight.Rank != 1 || posWeight.Length != columns)
                throw new ArgumentException(
                    $"posWeight must have one weight per column of the last dimension: expected [{columns}] for " +
                    $"logits {logits.Value.ShapeText}; found {posWeight.ShapeText}.", nameof(posWeight));
        }
        float loss = BceWithLogitsKernel.Forward<float>(logits.Value.Data, target.Data, Span(posWeight));
        return Scalar(tape, logits, loss, dLoss =>
            BceWithLogitsKernel.Backward<float>(logits.Value.Data, target.Data, dLoss, logits.Grad.Data,
                Span(posWeight)));
    }

    /// <summary>Binary cross-entropy on probabilities in [0, 1]. prediction and target: same shape, any rank.</summary>
    public static Variable BinaryCrossEntropy(Tape tape, Variable prediction, Tensor target)
    {
        RequireSameShape(prediction, target);
        float loss = BceKernel.Forward<float>(prediction.Value.Data, target.Data);
        return Scalar(tape, prediction, loss, dLoss =>
            BceKernel.Backward<float>(prediction.Value.Data, target.Data, dLoss, prediction.Grad.Data));
    }

    /// <summary>Wraps a loss value as a [1] variable and records <paramref name="backward"/>(loss.Grad).</summary>
    private static Variable Scalar(Tape tape, Variable prediction, float loss, Action<float> backward)
    {
        var result = new Variable(new Tensor([loss], 1), prediction.RequiresGrad);
        if (tape.NeedsGrad(prediction))
        {
            tape.Record(() => backward(result.Grad.Data[0]));
            tape.AfterBackward(result.ReleaseGrad);
        }
        return result;
    }

    private static void RequireSameShape(Variable prediction, Tensor target, string predictionName = "prediction")
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!prediction.Value.SameShape(target))
            throw new ArgumentException(
                $"target must have the shape of {predictionName}: expected {prediction.Value.ShapeText}; " +
                $"found {target.ShapeText}.", nameof(target));
    }

    private static ReadOnlySpan<float> Span(Tensor? tensor) => tensor is null ? default : tensor.Data;
}
