using System.Text.Json.Nodes;

namespace Recur.Evaluation;

/// <summary>
/// The report of a classifier or tagger: accuracy and macro-F1 beside the majority-class baseline, with per-class
/// precision, recall, F1 and support and the confusion matrix (rows actual, columns predicted) as details.
/// </summary>
public static class ClassificationReport
{
    /// <param name="task">"classify" or "tag".</param>
    /// <param name="predicted">[N] predicted class per scored item (sequence or real step).</param>
    /// <param name="actual">[N] true class per scored item.</param>
    /// <param name="classes">Class names in index order.</param>
    /// <param name="majority">The baseline's class: the most frequent one in training.</param>
    public static TaskReport Build(string task, int[] predicted, int[] actual, IReadOnlyList<string> classes, int majority)
    {
        int count = classes.Count;
        var majorityPrediction = Enumerable.Repeat(majority, actual.Length).ToArray();
        var perClass = ClassificationMetrics.PerClass(predicted, actual, count);
        var details = new JsonObject
        {
            ["classes"] = new JsonArray(classes.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            ["majority_class"] = classes[majority],
        };
        var perClassJson = new JsonObject();
        for (int c = 0; c < count; c++)
            perClassJson[classes[c]] = new JsonObject
            {
                ["precision"] = perClass[c].Precision, ["recall"] = perClass[c].Recall,
                ["f1"] = perClass[c].F1, ["support"] = perClass[c].Support,
            };
        details["per_class"] = perClassJson;
        var confusion = ClassificationMetrics.ConfusionMatrix(predicted, actual, count);
        details["confusion_matrix"] = new JsonArray(Enumerable.Range(0, count)
            .Select(a => (JsonNode?)new JsonArray(Enumerable.Range(0, count).Select(p => (JsonNode?)JsonValue.Create(confusion[a, p])).ToArray())).ToArray());
        return new TaskReport(task, Metrics(predicted, actual, count),
            new Dictionary<string, IReadOnlyDictionary<string, double>> { ["majority"] = Metrics(majorityPrediction, actual, count) },
            actual.Length) { Details = details };
    }

    /// <summary>The most frequent label (ties: the lowest index).</summary>
    public static int Majority(IEnumerable<int> labels) =>
        labels.GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;

    private static Dictionary<string, double> Metrics(int[] predicted, int[] actual, int classes) => new()
    {
        ["accuracy"] = ClassificationMetrics.Accuracy(predicted, actual),
        ["macro_f1"] = ClassificationMetrics.MacroF1(predicted, actual, classes),
    };
}
