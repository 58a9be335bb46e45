using System.Numerics;

namespace Recur.Losses;

/// <summary>
/// Binary cross-entropy on logits, as PyTorch's <c>BCEWithLogitsLoss(pos_weight)</c> (mean reduction). With
/// logit x, target y ∈ [0, 1] and lw = 1 + (pos_weight − 1)·y:
/// <code>
/// ℓ(x, y) = (1 − y)·x + lw·softplus(−x),   softplus(−x) = log(1 + exp(−|x|)) + max(−x, 0)
/// </code>
/// which without pos_weight is the stable <c>max(x, 0) − x·y + log(1 + exp(−|x|))</c>; <c>loss = (1/N) Σₙ ℓₙ</c>.
/// Shapes: logits, target, dLogits <c>[N]</c> — N elements, any tensor shape flattened; posWeight <c>[C]</c>
/// broadcast over the last dimension, so element n uses posWeight[n mod C] (C must divide N).
/// Sums accumulate in double whatever the number type T is; an empty input gives loss 0.
/// </summary>
public static class BinaryCrossEntropyWithLogits
{
    /// <param name="logits">[N] unnormalised scores.</param>
    /// <param name="target">[N] probabilities of the positive class (0/1 labels or soft targets).</param>
    /// <param name="posWeight">[C] weight of positive examples per output column; empty for all ones.</param>
    public static T Forward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<T> target, ReadOnlySpan<T> posWeight = default)
        where T : IFloatingPointIeee754<T>
    {
        Validate(logits, target, posWeight);
        if (logits.IsEmpty) return T.Zero;
        double sum = 0;
        for (int n = 0; n < logits.Length; n++)
        {
            T x = logits[n], y = target[n];
            T logWeight = posWeight.IsEmpty ? T.One : T.One + (posWeight[n % posWeight.Length] - T.One) * y;
            T softplusNegX = T.LogP1(T.Exp(-T.Abs(x))) + T.Max(-x, T.Zero);
            sum += double.CreateTruncating((T.One - y) * x + logWeight * softplusNegX);
        }
        return T.CreateTruncating(sum / logits.Length);
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂logits</c> into <paramref name="dLogits"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<T> target, T dLoss, Span<T> dLogits,
        ReadOnlySpan<T> posWeight = default)
        where T : IFloatingPointIeee754<T>
    {
        Validate(logits, target, posWeight);
        LossGuard.GradientLength(dLogits, logits.Length, nameof(dLogits));
        if (logits.IsEmpty) return;
        T scale = dLoss * T.CreateTruncating(1.0 / logits.Length);
        for (int n = 0; n < logits.Length; n++)
        {
            T x = logits[n], y = target[n];
            T logWeight = posWeight.IsEmpty ? T.One : T.One + (posWeight[n % posWeight.Length] - T.One) * y;
            // ∂ℓ/∂x = (1 − y) + lw·∂softplus(−x)/∂x = (1 − y) − lw·σ(−x)
            dLogits[n] += scale * (T.One - y - logWeight * Sigmoid(-x));
        }
    }

    /// <summary>σ(x) = 1 / (1 + exp(−x)), evaluated so that exp never overflows.</summary>
    internal static T Sigmoid<T>(T x) where T : IFloatingPointIeee754<T>
    {
        if (x >= T.Zero) return T.One / (T.One + T.Exp(-x));
        T e = T.Exp(x);
        return e / (T.One + e);
    }

    private static void Validate<T>(ReadOnlySpan<T> logits, ReadOnlySpan<T> target, ReadOnlySpan<T> posWeight)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(logits, target, nameof(logits), nameof(target));
        if (!posWeight.IsEmpty && logits.Length % posWeight.Length != 0)
            throw new ArgumentException(
                $"posWeight has {posWeight.Length} elements, which does not divide the {logits.Length} logits; " +
                $"expected one weight per column of the last dimension.", nameof(posWeight));
    }
}
