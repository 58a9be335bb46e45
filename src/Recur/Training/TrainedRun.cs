using Recur.Evaluation;
using Recur.Models;
using Recur.Training.Callbacks;

namespace Recur.Training;

/// <summary>
/// The outcome of <c>recur train</c>: the model with its best-validation weights, the resolved config, the
/// data-preparation state needed to use it on new files, its test report, and the epochs of the kept training.
/// </summary>
public sealed record TrainedRun(SequenceModel Model, TrainConfig Config, string DataState, TaskReport Report, TrainingHistory History)
{
    /// <summary>Gradient-flow measurements and alarms of the kept training.</summary>
    public GradientFlowMonitor? GradientFlow { get; init; }

    /// <summary>
    /// The test part's predictions as CSV: forecast <c>[id,][target,]window,row,step,actual,predicted,naive,seasonal_naive</c>;
    /// classify <c>line,actual,predicted</c> (labels).
    /// </summary>
    public string TestPredictionsCsv { get; init; } = "";

    /// <summary>What <c>--init-from</c> loaded, skipped and newly initialised (null without it).</summary>
    public TransferReport? Transfer { get; init; }
}
