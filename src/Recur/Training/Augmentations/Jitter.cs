using Recur.Randomness;

namespace Recur.Training.Augmentations;

/// <summary>
/// Jitter: adds independent N(0, σ²) noise to every numeric input value at a real step (every feature), as
/// sensor noise would. σ is in the units the model sees: after the forecaster's window normalisation or the
/// classifier's scaling. Targets are left alone.
/// </summary>
public sealed class Jitter : Augmentation
{
    public Jitter(double sigma)
    {
        if (!(sigma >= 0 && double.IsFinite(sigma))) throw new InvalidInputException($"augment jitter: expected a standard deviation σ ≥ 0; found {sigma}.");
        Sigma = sigma;
    }

    public double Sigma { get; }
    public override string Key => "jitter";
    public override double Amount => Sigma;
    public override bool ForTokens => false;

    protected override TrainingBatch Transform(TrainingBatch batch, RecurRandom random)
    {
        var inputs = batch.Inputs;
        var values = inputs.Values!.Clone();
        int T = inputs.Steps, F = values.Dim(2);
        for (int b = 0; b < inputs.Batch; b++)
            foreach (ref float v in values.Data.AsSpan(b * T * F, Length(inputs, b) * F))
                v += (float)(Sigma * random.Normal());
        return batch with { Inputs = WithValues(inputs, values) };
    }
}
