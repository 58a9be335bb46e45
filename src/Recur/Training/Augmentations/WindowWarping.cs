using Recur.Randomness;

namespace Recur.Training.Augmentations;

/// <summary>
/// Window warping (Le Guennec, Malinowski and Tavenard 2016): picks a random window spanning r·(L − 1) of each
/// sequence's L real steps, speeds it up ×2 (it takes half the time) or slows it down ×2 (twice the time), chosen
/// at random, and resamples the whole warped sequence back to L steps by linear interpolation. The first and last
/// values stay; a constant sequence stays constant.
/// </summary>
/// <remarks>
/// As a piecewise-linear time map: warped time u runs 1:1 with source time before and after the window and k : 1
/// inside it (k = 0.5 or 2); output step t reads the source at the position whose warped time is
/// t · U / (L − 1), U the warped length. Refused on per-step tasks, whose labels follow the steps.
/// </remarks>
public sealed class WindowWarping : Augmentation
{
    public WindowWarping(double ratio)
    {
        if (!(ratio > 0 && ratio <= 1)) throw new InvalidInputException($"augment warping: expected the window's share of the steps, in (0, 1]; found {ratio}.");
        Ratio = ratio;
    }

    public double Ratio { get; }
    public override string Key => "warping";
    public override double Amount => Ratio;
    public override bool ForTokens => false;
    public override bool MovesSteps => true;

    protected override TrainingBatch Transform(TrainingBatch batch, RecurRandom random)
    {
        var inputs = batch.Inputs;
        var values = inputs.Values!.Clone();
        for (int b = 0; b < inputs.Batch; b++)
        {
            int L = Length(inputs, b);
            if (L < 2) continue;
            double span = L - 1, window = Ratio * span;
            double start = random.Uniform(0, span - window);
            double k = random.NextDouble() < 0.5 ? 0.5 : 2.0;
            double warped = span + window * (k - 1);
            Resample(inputs.Values!, values, b, L, t =>
            {
                double u = t * warped / span;
                if (u <= start) return u;
                if (u <= start + window * k) return start + (u - start) / k;
                return u - window * (k - 1);
            });
        }
        return batch with { Inputs = WithValues(inputs, values) };
    }
}
