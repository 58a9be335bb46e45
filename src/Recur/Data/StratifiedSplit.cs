using Recur.Randomness;

namespace Recur.Data;

/// <summary>
/// A seeded split that keeps each class's share in every part: per class (in class order) the rows are shuffled,
/// then a fraction goes to test, the same fraction to validation and the rest to training. Each part lists rows in
/// file order. Classes with fewer than 3 rows stay wholly in training.
/// </summary>
public sealed record StratifiedSplit(int[] Train, int[] Validation, int[] Test)
{
    public const double TestFraction = 0.1, ValidationFraction = 0.1;

    public static StratifiedSplit Create(ReadOnlySpan<int> labels, int classes, ulong seed)
    {
        var random = new RecurRandom(seed);
        var byClass = new List<int>[classes];
        for (int c = 0; c < classes; c++) byClass[c] = [];
        for (int row = 0; row < labels.Length; row++) byClass[labels[row]].Add(row);
        List<int> train = [], validation = [], test = [];
        foreach (var rows in byClass)
        {
            var shuffled = rows.ToArray();
            random.Shuffle<int>(shuffled);
            int n = shuffled.Length;
            int testCount = n >= 3 ? Math.Max(1, (int)Math.Round(TestFraction * n)) : 0;
            int validationCount = n >= 3 ? Math.Max(1, (int)Math.Round(ValidationFraction * n)) : 0;
            test.AddRange(shuffled[..testCount]);
            validation.AddRange(shuffled[testCount..(testCount + validationCount)]);
            train.AddRange(shuffled[(testCount + validationCount)..]);
        }
        return new StratifiedSplit([.. train.Order()], [.. validation.Order()], [.. test.Order()]);
    }
}
