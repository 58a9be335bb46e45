namespace Recur.Training;

/// <summary>
/// Curriculum learning: easy first, then the full task. Two kinds, both growing linearly over
/// <see cref="RampEpochs"/> epochs and complete from epoch <see cref="RampEpochs"/> + 1 on; validation always uses
/// the full task.
/// <list type="bullet">
/// <item><see cref="CurriculumKind.Length"/>: epoch e trains on the last L_e steps of every sequence,
/// L_e = round(S + (T − S)·(e − 1)/R) (halves up), from S = <see cref="StartFraction"/>·T (at least 1) up to T.</item>
/// <item><see cref="CurriculumKind.SelfPaced"/>: at each epoch start every training sequence is scored by the model's
/// current loss and the easiest share f_e = F + (1 − F)·(e − 1)/R of them is trained on, F = <see cref="StartFraction"/>.</item>
/// </list>
/// </summary>
public sealed record Curriculum(CurriculumKind Kind, int RampEpochs, double StartFraction)
{
    /// <summary>Parses <c>--curriculum none|length|self-paced</c> with the run's epochs (ramp: half of them).</summary>
    public static Curriculum? Parse(string? name, int epochs, int? rampEpochs, double? start) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "none" => null,
        "length" => new Curriculum(CurriculumKind.Length, rampEpochs ?? Math.Max(1, epochs / 2), start ?? 0.25),
        "self-paced" or "selfpaced" => new Curriculum(CurriculumKind.SelfPaced, rampEpochs ?? Math.Max(1, epochs / 2), start ?? 0.5),
        _ => throw new InvalidInputException($"--curriculum: expected none, length or self-paced; found '{name}'."),
    };

    private double Progress(int epoch) => Math.Min(1.0, (epoch - 1) / (double)Math.Max(1, RampEpochs));

    /// <summary>Steps per sequence in epoch <paramref name="epoch"/> (1-based) of sequences of <paramref name="steps"/>.</summary>
    public int Length(int epoch, int steps)
    {
        if (Kind != CurriculumKind.Length) return steps;
        double start = Math.Max(1, StartFraction * steps);
        return (int)Math.Clamp(Math.Round(start + (steps - start) * Progress(epoch), MidpointRounding.AwayFromZero), 1, steps);
    }

    /// <summary>How many of <paramref name="count"/> sequences epoch <paramref name="epoch"/> trains on.</summary>
    public int Samples(int epoch, int count) =>
        Kind != CurriculumKind.SelfPaced ? count
            : (int)Math.Clamp(Math.Round(count * (StartFraction + (1 - StartFraction) * Progress(epoch)), MidpointRounding.AwayFromZero), 1, count);
}

public enum CurriculumKind { Length, SelfPaced }
