using Recur.Randomness;

namespace Recur.Training.Augmentations;

/// <summary>
/// The augmentations a training run applies to every training mini-batch, in a fixed order whatever the order of
/// the config keys: slicing, warping (they move values in time), scaling, jitter (noise last, so it is neither
/// stretched nor scaled), token dropout. The trainer applies it to training batches only: validation, test,
/// prediction and self-paced scoring see the data as it is.
/// </summary>
public sealed class AugmentationPipeline
{
    private static readonly string[] Order = AugmentConfig.Keys;

    public AugmentationPipeline(IEnumerable<Augmentation> augmentations)
    {
        var list = augmentations.ToList();
        foreach (var duplicate in list.GroupBy(a => a.Key).Where(g => g.Count() > 1))
            throw new InvalidInputException($"augment {duplicate.Key}: given more than once.");
        Augmentations = list.OrderBy(a => Array.IndexOf(Order, a.Key) is var i && i >= 0 ? i : Order.Length).ToList();
    }

    /// <summary>The augmentations in the order they are applied.</summary>
    public IReadOnlyList<Augmentation> Augmentations { get; }

    public bool IsEmpty => Augmentations.Count == 0;

    /// <summary>
    /// The pipeline a config asks for (null when it asks for none). A setting of 0 (σ = 0, p = 0) turns its
    /// augmentation off; out-of-range settings and unknown keys fail naming the key.
    /// </summary>
    public static AugmentationPipeline? From(AugmentConfig? config)
    {
        if (config is null) return null;
        config.Validate();
        var list = new List<Augmentation>();
        if (config.Slicing is double slicing && slicing < 1) list.Add(new WindowSlicing(slicing));
        if (config.Warping is double warping) list.Add(new WindowWarping(warping));
        if (config.Scaling is double scaling && scaling > 0) list.Add(new Scaling(scaling));
        if (config.Jitter is double jitter && jitter > 0) list.Add(new Jitter(jitter));
        if (config.TokenDropout is double p && p > 0) list.Add(new TokenDropout(p));
        return list.Count == 0 ? null : new AugmentationPipeline(list);
    }

    /// <summary>Fails, naming the option, when an augmentation cannot apply to this training data.</summary>
    public void Check(SequenceDataset data)
    {
        foreach (var a in Augmentations) a.Check(data);
    }

    /// <summary>Every augmentation in turn; the given batch and its arrays are left as they are.</summary>
    public TrainingBatch Apply(TrainingBatch batch, RecurRandom random)
    {
        foreach (var a in Augmentations) batch = a.Apply(batch, random);
        return batch;
    }

    public override string ToString() => string.Join(", ", Augmentations);
}
