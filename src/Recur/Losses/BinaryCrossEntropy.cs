using System.Numerics;

namespace Recur.Losses;

/// <summary>
/// Binary cross-entropy on probabilities, as PyTorch's <c>BCELoss</c> (mean reduction):
/// <code>
/// ℓ(p, y) = −(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)),   loss = (1/N) Σₙ ℓₙ
/// </code>
/// The clamp keeps the loss finite at p = 0 or 1. The gradient is PyTorch's
/// <c>(p − y) / max(p·(1 − p), 1e-12)</c> — the derivative of the unclamped loss, bounded.
/// Prefer <see cref="BinaryCrossEntropyWithLogits"/> when the model's last step is a sigmoid: it is stabler.
/// Shapes: prediction, target, dPrediction <c>[N]</c> — N elements, any tensor shape flattened.
/// Sums accumulate in double whatever the number type T is; an empty input gives loss 0.
/// </summary>
public static class BinaryCrossEntropy
{
    private const double LogFloor = -100;
    private const double Epsilon = 1e-12;

    /// <param name="prediction">[N] probabilities in [0, 1].</param>
    /// <param name="target">[N] probabilities of the positive class (0/1 labels or soft targets).</param>
    public static T Forward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target)
        where T : IFloatingPointIeee754<T>
    {
        Validate(prediction, target);
        if (prediction.IsEmpty) return T.Zero;
        T floor = T.CreateTruncating(LogFloor);
        double sum = 0;
        for (int n = 0; n < prediction.Length; n++)
        {
            T p = prediction[n], y = target[n];
            T logP = T.Max(T.Log(p), floor);
            T logNotP = T.Max(T.Log(T.One - p), floor);
            sum -= double.CreateTruncating(y * logP + (T.One - y) * logNotP);
        }
        return T.CreateTruncating(sum / prediction.Length);
    }

    /// <summary>Adds <c>dLoss · ∂loss/∂prediction</c> into <paramref name="dPrediction"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target, T dLoss, Span<T> dPrediction)
        where T : IFloatingPointIeee754<T>
    {
        Validate(prediction, target);
        LossGuard.GradientLength(dPrediction, prediction.Length, nameof(dPrediction));
        if (prediction.IsEmpty) return;
        T epsilon = T.CreateTruncating(Epsilon);
        T scale = dLoss * T.CreateTruncating(1.0 / prediction.Length);
        for (int n = 0; n < prediction.Length; n++)
        {
            T p = prediction[n], y = target[n];
            // ∂ℓ/∂p = −y/p + (1 − y)/(1 − p) = (p − y) / (p·(1 − p))
            dPrediction[n] += scale * (p - y) / T.Max(p * (T.One - p), epsilon);
        }
    }

    private static void Validate<T>(ReadOnlySpan<T> prediction, ReadOnlySpan<T> target)
        where T : IFloatingPointIeee754<T>
    {
        LossGuard.SameLength(prediction, target);
        for (int n = 0; n < prediction.Length; n++)
            if (!(prediction[n] >= T.Zero && prediction[n] <= T.One))
                throw new ArgumentException(
                    $"prediction[{n}] = {prediction[n]} is not a probability: expected a value in [0, 1]. " +
                    "Apply a sigmoid first, or use BinaryCrossEntropyWithLogits on the raw scores.", "prediction");
    }
}
