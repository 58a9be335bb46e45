namespace Recur.Evaluation;

/// <summary>Precision, recall and F1 of one class, and its support (how many actual labels are that class).</summary>
public readonly record struct ClassScores(int Class, double Precision, double Recall, double F1, int Support);

/// <summary>
/// Scores for single-label classification with labels 0 … classes − 1. Label spans must be non-empty and of equal
/// length (else <see cref="ArgumentException"/>); a label outside [0, classes) is an
/// <see cref="ArgumentOutOfRangeException"/>.
/// <para>
/// Convention (scikit-learn's <c>precision_recall_fscore_support</c> with <c>zero_division=0</c>): a ratio whose
/// denominator is 0 counts as 0 — precision of a class never predicted, recall of a class never present, and F1
/// when both are 0. F1 = 2·TP / (2·TP + FP + FN).
/// </para>
/// </summary>
public static class ClassificationMetrics
{
    /// <summary>Fraction of positions where the predicted label equals the actual one.</summary>
    /// <summary>Index of the largest score (ties: the first).</summary>
    public static int ArgMax(ReadOnlySpan<float> scores)
    {
        int best = 0;
        for (int c = 1; c < scores.Length; c++) if (scores[c] > scores[best]) best = c;
        return best;
    }

    public static double Accuracy(ReadOnlySpan<int> predicted, ReadOnlySpan<int> actual)
    {
        CheckPair(predicted, actual);
        int correct = 0;
        for (int i = 0; i < actual.Length; i++)
            if (predicted[i] == actual[i])
                correct++;
        return (double)correct / actual.Length;
    }

    /// <summary>Counts: <c>m[actual, predicted]</c> — rows are actual classes, columns predicted classes.</summary>
    public static int[,] ConfusionMatrix(ReadOnlySpan<int> predicted, ReadOnlySpan<int> actual, int classes)
    {
        CheckPair(predicted, actual);
        if (classes < 1)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, "classes must be at least 1");
        var m = new int[classes, classes];
        for (int i = 0; i < actual.Length; i++)
        {
            int a = actual[i], p = predicted[i];
            if ((uint)a >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(actual), a, $"actual[{i}] is not a label in [0, {classes})");
            if ((uint)p >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(predicted), p, $"predicted[{i}] is not a label in [0, {classes})");
            m[a, p]++;
        }
        return m;
    }

    /// <summary>Precision, recall, F1 and support of every class 0 … classes − 1 (0 where undefined).</summary>
    public static ClassScores[] PerClass(ReadOnlySpan<int> predicted, ReadOnlySpan<int> actual, int classes)
    {
        int[,] m = ConfusionMatrix(predicted, actual, classes);
        var scores = new ClassScores[classes];
        for (int k = 0; k < classes; k++)
        {
            int tp = m[k, k], support = 0, predictedCount = 0;
            for (int j = 0; j < classes; j++)
            {
                support += m[k, j];
                predictedCount += m[j, k];
            }
            int fp = predictedCount - tp, fn = support - tp;
            double precision = predictedCount == 0 ? 0 : (double)tp / predictedCount;
            double recall = support == 0 ? 0 : (double)tp / support;
            double f1 = tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
            scores[k] = new ClassScores(k, precision, recall, f1, support);
        }
        return scores;
    }

    /// <summary>
    /// Macro-averaged F1: the unweighted mean of per-class F1 over the classes that occur in
    /// <paramref name="actual"/> or <paramref name="predicted"/> (scikit-learn's <c>f1_score(average='macro',
    /// zero_division=0)</c> without explicit labels). A class present but never predicted — or predicted but never
    /// present — contributes F1 = 0; a class in neither is left out rather than counted as 0 or 1.
    /// </summary>
    public static double MacroF1(ReadOnlySpan<int> predicted, ReadOnlySpan<int> actual, int classes)
    {
        ClassScores[] scores = PerClass(predicted, actual, classes);
        var seen = new bool[classes];
        for (int i = 0; i < actual.Length; i++)
        {
            seen[actual[i]] = true;
            seen[predicted[i]] = true;
        }
        double sum = 0;
        int count = 0;
        for (int k = 0; k < classes; k++)
        {
            if (!seen[k])
                continue;
            sum += scores[k].F1;
            count++;
        }
        return sum / count;
    }

    private static void CheckPair(ReadOnlySpan<int> predicted, ReadOnlySpan<int> actual)
    {
        if (predicted.Length != actual.Length)
            throw new ArgumentException(
                $"predicted has {predicted.Length} labels but actual has {actual.Length}", nameof(predicted));
        if (actual.Length == 0)
            throw new ArgumentException("at least one label is needed", nameof(actual));
    }
}
