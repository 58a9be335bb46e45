using System.Numerics;
using Recur.Losses;
using Recur.Randomness;
using Xunit;

namespace Recur.Tests.Losses;

/// <summary>
/// One loss configuration on fixed random inputs: <see cref="Input"/> is the array the loss is differentiated
/// by; <see cref="Forward"/> reads it; <see cref="Backward"/>(dLoss, dInput) adds into dInput.
/// </summary>
internal sealed record LossCase<T>(string Name, T[] Input, Func<T> Forward, Action<T, T[]> Backward);

/// <summary>
/// Every loss and variant, built in any number type from the same seeded doubles, so the double build serves the
/// finite-difference checks and the float build is compared against it.
/// </summary>
internal static class LossCases
{
    public static readonly string[] Names =
    [
        "mse", "mse-row-mask", "mae", "huber-quadratic", "huber-linear", "huber-both-delta-0.7",
        "cross-entropy", "cross-entropy-mask", "cross-entropy-class-weights", "cross-entropy-mask-class-weights",
        "bce-logits", "bce-logits-pos-weight", "bce-probabilities",
    ];

    public static TheoryData<string> All => new(Names);

    private const int Rows = 6, Classes = 5;

    public static LossCase<T> Build<T>(string name) where T : IFloatingPointIeee754<T>
    {
        switch (name)
        {
            case "mse":
            {
                var rng = new RecurRandom(101);
                T[] p = Uniform<T>(rng, 12, -2, 2), t = Uniform<T>(rng, 12, -2, 2);
                return new(name, p, () => MeanSquaredError.Forward<T>(p, t),
                    (d, g) => MeanSquaredError.Backward<T>(p, t, d, g));
            }
            case "mse-row-mask":
            {
                // [4, 3] with rows 1 and 3 masked out.
                var rng = new RecurRandom(112);
                T[] p = Uniform<T>(rng, 12, -2, 2), t = Uniform<T>(rng, 12, -2, 2);
                T[] m = [T.One, T.Zero, T.One, T.Zero];
                return new(name, p, () => MeanSquaredError.Forward<T>(p, t, m),
                    (d, g) => MeanSquaredError.Backward<T>(p, t, m, d, g));
            }
            case "mae":
            {
                var rng = new RecurRandom(102);
                T[] p = Uniform<T>(rng, 12, -2, 2), t = Offset(rng, p, 0.1, 1.0);
                return new(name, p, () => MeanAbsoluteError.Forward<T>(p, t),
                    (d, g) => MeanAbsoluteError.Backward<T>(p, t, d, g));
            }
            case "huber-quadratic":
                return HuberCase<T>(name, 103, 1.0, 0.05, 0.9);
            case "huber-linear":
                return HuberCase<T>(name, 104, 1.0, 1.1, 3.0);
            case "huber-both-delta-0.7":
            {
                // Alternate |diff| below and above δ, keeping clear of the kink at δ.
                var rng = new RecurRandom(105);
                T[] p = Uniform<T>(rng, 12, -2, 2), t = new T[12];
                for (int i = 0; i < p.Length; i++)
                {
                    double gap = i % 2 == 0 ? rng.Uniform(0.05, 0.6) : rng.Uniform(0.8, 2.0);
                    t[i] = p[i] + T.CreateTruncating(rng.NextDouble() < 0.5 ? gap : -gap);
                }
                return new(name, p, () => Huber.Forward<T>(p, t, 0.7),
                    (d, g) => Huber.Backward<T>(p, t, d, g, 0.7));
            }
            case "cross-entropy":
                return CrossEntropyCase<T>(name, 106, withMask: false, withClassWeights: false);
            case "cross-entropy-mask":
                return CrossEntropyCase<T>(name, 107, withMask: true, withClassWeights: false);
            case "cross-entropy-class-weights":
                return CrossEntropyCase<T>(name, 108, withMask: false, withClassWeights: true);
            case "cross-entropy-mask-class-weights":
                return CrossEntropyCase<T>(name, 109, withMask: true, withClassWeights: true);
            case "bce-logits":
            {
                var rng = new RecurRandom(110);
                T[] x = Uniform<T>(rng, 12, -4, 4), y = Labels<T>(rng, 12);
                return new(name, x, () => BinaryCrossEntropyWithLogits.Forward<T>(x, y),
                    (d, g) => BinaryCrossEntropyWithLogits.Backward<T>(x, y, d, g));
            }
            case "bce-logits-pos-weight":
            {
                // logits [4, 3] with soft targets, posWeight [3] over the last dimension.
                var rng = new RecurRandom(111);
                T[] x = Uniform<T>(rng, 12, -4, 4), y = Uniform<T>(rng, 12, 0, 1), w = Uniform<T>(rng, 3, 0.5, 3);
                return new(name, x, () => BinaryCrossEntropyWithLogits.Forward<T>(x, y, w),
                    (d, g) => BinaryCrossEntropyWithLogits.Backward<T>(x, y, d, g, w));
            }
            case "bce-probabilities":
            {
                var rng = new RecurRandom(112);
                T[] p = Uniform<T>(rng, 12, 0.05, 0.95), y = Labels<T>(rng, 12);
                y[0] = T.CreateTruncating(0.3); // one soft target
                return new(name, p, () => BinaryCrossEntropy.Forward<T>(p, y),
                    (d, g) => BinaryCrossEntropy.Backward<T>(p, y, d, g));
            }
            default:
                throw new ArgumentException($"Unknown loss case '{name}'.", nameof(name));
        }
    }

    private static LossCase<T> HuberCase<T>(string name, ulong seed, double delta, double minGap, double maxGap)
        where T : IFloatingPointIeee754<T>
    {
        var rng = new RecurRandom(seed);
        T[] p = Uniform<T>(rng, 12, -2, 2), t = Offset(rng, p, minGap, maxGap);
        return new(name, p, () => Huber.Forward<T>(p, t, delta), (d, g) => Huber.Backward<T>(p, t, d, g, delta));
    }

    /// <summary>logits [6, 5]; mask [6] with zeros (their targets set to −1, which must not be read) and a 0.5.</summary>
    private static LossCase<T> CrossEntropyCase<T>(string name, ulong seed, bool withMask, bool withClassWeights)
        where T : IFloatingPointIeee754<T>
    {
        var rng = new RecurRandom(seed);
        T[] logits = Uniform<T>(rng, Rows * Classes, -3, 3);
        var targets = new int[Rows];
        for (int n = 0; n < Rows; n++) targets[n] = rng.NextInt(Classes);
        T[] mask = [];
        if (withMask)
        {
            mask = [T.One, T.Zero, T.One, T.CreateTruncating(0.5), T.Zero, T.One];
            targets[1] = -1;
            targets[4] = -1;
        }
        T[] classWeights = withClassWeights ? Uniform<T>(rng, Classes, 0.2, 2) : [];
        return new(name, logits,
            () => SoftmaxCrossEntropy.Forward<T>(logits, targets, Classes, mask, classWeights),
            (d, g) => SoftmaxCrossEntropy.Backward<T>(logits, targets, Classes, d, g, mask, classWeights));
    }

    public static T[] Uniform<T>(RecurRandom rng, int count, double low, double high) where T : IFloatingPointIeee754<T>
    {
        var values = new T[count];
        for (int i = 0; i < count; i++) values[i] = T.CreateTruncating(rng.Uniform(low, high));
        return values;
    }

    private static T[] Labels<T>(RecurRandom rng, int count) where T : IFloatingPointIeee754<T>
    {
        var values = new T[count];
        for (int i = 0; i < count; i++) values[i] = T.CreateTruncating(rng.NextInt(2));
        return values;
    }

    /// <summary>from[i] ± a gap drawn from [minGap, maxGap), random sign.</summary>
    private static T[] Offset<T>(RecurRandom rng, T[] from, double minGap, double maxGap)
        where T : IFloatingPointIeee754<T>
    {
        var values = new T[from.Length];
        for (int i = 0; i < from.Length; i++)
        {
            double gap = rng.Uniform(minGap, maxGap);
            values[i] = from[i] + T.CreateTruncating(rng.NextDouble() < 0.5 ? gap : -gap);
        }
        return values;
    }
}
