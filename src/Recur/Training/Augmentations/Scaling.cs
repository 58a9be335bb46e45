using Recur.Randomness;

namespace Recur.Training.Augmentations;

/// <summary>
/// Magnitude scaling: multiplies each sequence by one factor a ~ N(1, σ²), drawn per sequence and shared by all its
/// features and real steps (so relations between features survive). With <see cref="ScaleTargets"/> (the
/// default) the sequence's regression targets are multiplied by the same factor.
/// </summary>
/// <remarks>
/// Why the targets too: the forecaster's targets are in the units of its inputs. Every window normalisation is
/// an affine map x ↦ (x − anchor) / scale shared by the window and its targets (relative: anchor = the window's
/// last value; instance: its mean and spread; global: the training part's centre and scale), so multiplying the
/// normalised inputs and targets by a is exactly the normalised image of the raw window and its future scaled by
/// a about the anchor: a consistent pair. Scaling only the inputs would teach the model that the future ignores
/// the window's amplitude. Classification has no targets to scale.
/// </remarks>
public sealed class Scaling : Augmentation
{
    public Scaling(double sigma, bool scaleTargets = true)
    {
        if (!(sigma >= 0 && double.IsFinite(sigma))) throw new InvalidInputException($"augment scaling: expected a standard deviation σ ≥ 0; found {sigma}.");
        (Sigma, ScaleTargets) = (sigma, scaleTargets);
    }

    public double Sigma { get; }

    /// <summary>Multiply regression targets [B, O] by their sequence's factor (targets in the inputs' units).</summary>
    public bool ScaleTargets { get; }
    public override string Key => "scaling";
    public override double Amount => Sigma;
    public override bool ForTokens => false;

    protected override TrainingBatch Transform(TrainingBatch batch, RecurRandom random)
    {
        var inputs = batch.Inputs;
        var values = inputs.Values!.Clone();
        var targets = ScaleTargets ? batch.Targets?.Clone() : batch.Targets;
        int T = inputs.Steps, F = values.Dim(2);
        for (int b = 0; b < inputs.Batch; b++)
        {
            float factor = (float)(1 + Sigma * random.Normal());
            foreach (ref float v in values.Data.AsSpan(b * T * F, Length(inputs, b) * F)) v *= factor;
            if (ScaleTargets && targets is not null)
            {
                int O = targets.Dim(1);
                foreach (ref float y in targets.Data.AsSpan(b * O, O)) y *= factor;
            }
        }
        return new TrainingBatch(WithValues(inputs, values), targets);
    }
}
