namespace Recur.Data;

/// <summary>
/// The split of a text for language modelling, by characters in text order: the first 80% train, the next 10%
/// validation, the last 10% test.
/// </summary>
public static class TextSplit
{
    public const double TrainFraction = 0.8, ValidationFraction = 0.1, TestFraction = 0.1;

    /// <summary>Where validation and test begin in a text of <paramref name="length"/> characters.</summary>
    public static (int TrainEnd, int ValidationEnd) Bounds(int length) =>
        ((int)(length * TrainFraction), (int)(length * (TrainFraction + ValidationFraction)));

    /// <summary>The three parts; a text too short to give validation and test 2 characters each is an error naming <paramref name="source"/>.</summary>
    public static (string Train, string Validation, string Test) Split(string text, string source)
    {
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        if (string.IsNullOrWhiteSpace(text)) throw new InvalidInputException($"{source}: the text is empty; a language model needs text to learn from.");
        var (trainEnd, validationEnd) = Bounds(text.Length);
        if (validationEnd - trainEnd < 2 || text.Length - validationEnd < 2)
            throw new InvalidInputException($"{source}: {text.Length} characters are too few to hold out {ValidationFraction:P0} for validation and {TestFraction:P0} for test; expected at least 20.");
        return (text[..trainEnd], text[trainEnd..validationEnd], text[validationEnd..]);
    }
}
