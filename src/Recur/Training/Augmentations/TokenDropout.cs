using Recur.Randomness;

namespace Recur.Training.Augmentations;

/// <summary>
/// Token dropout (word dropout): replaces each real token id by the unknown id 1 with probability p, so the model
/// learns not to lean on any single token and copes with unseen words. Padding (id 0 and every step ≥ the
/// sequence's length) is never touched.
/// </summary>
public sealed class TokenDropout : Augmentation
{
    /// <summary>The id every tokenizer gives an unknown token.</summary>
    public const int Unknown = 1;

    public TokenDropout(double probability)
    {
        if (!(probability >= 0 && probability < 1)) throw new InvalidInputException($"augment token_dropout: expected a probability in [0, 1); found {probability}.");
        Probability = probability;
    }

    public double Probability { get; }
    public override string Key => "token_dropout";
    public override double Amount => Probability;
    public override bool ForTokens => true;

    protected override TrainingBatch Transform(TrainingBatch batch, RecurRandom random)
    {
        var inputs = batch.Inputs;
        var tokens = (int[])inputs.Tokens!.Clone();
        int T = inputs.Steps;
        for (int b = 0; b < inputs.Batch; b++)
            foreach (ref int id in tokens.AsSpan(b * T, Length(inputs, b)))
                if (random.NextDouble() < Probability && id != 0) id = Unknown;
        return batch with { Inputs = inputs with { Tokens = tokens } };
    }
}
