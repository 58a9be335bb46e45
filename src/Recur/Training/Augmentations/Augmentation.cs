using Recur.Models;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Training.Augmentations;

/// <summary>
/// A training mini-batch as an augmentation sees it: the model inputs (numeric values [B, T, F] or token ids
/// [B, T], with optional lengths [B]) and, for regression, the targets [B, O] (null otherwise).
/// </summary>
public sealed record TrainingBatch(SequenceBatch Inputs, Tensor? Targets);

/// <summary>
/// A random, label-preserving change of a training mini-batch (data augmentation for small data sets). An
/// augmentation never changes the arrays it is given: it returns a batch with fresh arrays. It never touches padded
/// steps (steps ≥ <see cref="SequenceBatch.Lengths"/>[b]) and draws every random number from the generator it is
/// given, in a fixed order, so that the trainer's seeded generator makes it deterministic and resumable.
/// </summary>
public abstract class Augmentation
{
    /// <summary>The config key that turns it on (<c>jitter</c>, <c>scaling</c>, <c>slicing</c>, <c>warping</c>, <c>token_dropout</c>).</summary>
    public abstract string Key { get; }

    /// <summary>Its one setting: σ, the crop or window ratio r, or the probability p.</summary>
    public abstract double Amount { get; }

    /// <summary>Whether it reads token ids (otherwise numeric values).</summary>
    public abstract bool ForTokens { get; }

    /// <summary>Whether it moves values in time, which would break the alignment of per-step labels.</summary>
    public virtual bool MovesSteps => false;

    /// <summary>A new batch: the same sequences and lengths, changed at random; the given batch is left as it is.</summary>
    public TrainingBatch Apply(TrainingBatch batch, RecurRandom random)
    {
        var inputs = batch.Inputs;
        if (ForTokens && inputs.Tokens is null)
            throw new InvalidInputException($"augment {Key}: it replaces token ids, but the batch holds numeric values; use jitter, scaling, slicing or warping for series.");
        if (!ForTokens && inputs.Values is null)
            throw new InvalidInputException($"augment {Key}: it changes numeric values, but the batch holds token ids; use token_dropout for text.");
        return Transform(batch, random);
    }

    /// <summary>The change itself, on a batch of the right kind; must copy before writing.</summary>
    protected abstract TrainingBatch Transform(TrainingBatch batch, RecurRandom random);

    /// <summary>Fails with a message naming the option when this augmentation cannot apply to <paramref name="data"/>.</summary>
    public void Check(SequenceDataset data)
    {
        if (ForTokens && data.Tokens is null)
            throw new InvalidInputException($"augment {Key}: token dropout needs text (token ids), but this data is numeric; use jitter, scaling, slicing or warping for series.");
        if (!ForTokens && data.Values is null)
            throw new InvalidInputException($"augment {Key}: it changes numeric series, but this data is text (token ids); use token_dropout for text.");
        if (MovesSteps && data.IsPerStep)
            throw new InvalidInputException($"augment {Key}: it resamples the steps, so one label per step would no longer match its step; use jitter or scaling for per-step tasks.");
    }

    public override string ToString() => $"{Key} {Amount.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Real steps of sequence <paramref name="b"/>.</summary>
    protected static int Length(SequenceBatch batch, int b) => batch.Lengths?[b] ?? batch.Steps;

    /// <summary>A copy of the numeric inputs with new values (same lengths).</summary>
    protected static SequenceBatch WithValues(SequenceBatch batch, Tensor values) => batch with { Values = values };

    /// <summary>
    /// Resamples the real steps of sequence <paramref name="b"/> of <paramref name="source"/> into
    /// <paramref name="target"/>: output step t reads source position <paramref name="position"/>(t) (in [0, length − 1])
    /// by linear interpolation between its neighbouring steps, every feature alike.
    /// </summary>
    protected static void Resample(Tensor source, Tensor target, int b, int length, Func<int, double> position)
    {
        int T = source.Dim(1), F = source.Dim(2);
        var from = source.Data.AsSpan(b * T * F, length * F);
        var to = target.Data.AsSpan(b * T * F, length * F);
        for (int t = 0; t < length; t++)
        {
            double p = Math.Clamp(position(t), 0, length - 1);
            int i = Math.Min((int)Math.Floor(p), length - 1), j = Math.Min(i + 1, length - 1);
            double w = p - i;
            for (int f = 0; f < F; f++)
                to[t * F + f] = (float)(from[i * F + f] + w * (from[j * F + f] - from[i * F + f]));
        }
    }
}
