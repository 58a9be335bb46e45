using Recur.Randomness;

namespace Recur.Training.Augmentations;

/// <summary>
/// Window slicing (Le Guennec, Malinowski and Tavenard 2016): takes a random contiguous crop of
/// c = max(2, round(r·L)) real steps of each sequence (L its real length; the start uniform among the L − c + 1
/// possible) and stretches it back to L steps by linear interpolation, every feature alike. r = 1 leaves the
/// sequence as it is.
/// </summary>
/// <remarks>
/// A label-preserving transform for classifying series. For forecasting it also moves the window's end away from
/// the values the targets continue, so keep r close to 1 there. Refused on per-step tasks, whose labels follow the steps.
/// </remarks>
public sealed class WindowSlicing : Augmentation
{
    public WindowSlicing(double ratio)
    {
        if (!(ratio > 0 && ratio <= 1)) throw new InvalidInputException($"augment slicing: expected the share of steps kept, in (0, 1]; found {ratio}.");
        Ratio = ratio;
    }

    public double Ratio { get; }
    public override string Key => "slicing";
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
            int crop = Math.Clamp((int)Math.Round(Ratio * L), 2, L);
            int start = random.NextInt(L - crop + 1);
            double stretch = (crop - 1) / (double)(L - 1);
            Resample(inputs.Values!, values, b, L, t => start + t * stretch);
        }
        return batch with { Inputs = WithValues(inputs, values) };
    }
}
