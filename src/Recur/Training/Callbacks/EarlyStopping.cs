using System.Globalization;
using Recur.Training.Checkpoints;

namespace Recur.Training.Callbacks;

/// <summary>Which epoch value a callback watches, and whether lower or higher is better.</summary>
public enum Monitor { ValidationLoss, TrainLoss }

/// <summary>
/// Stops training when the monitored loss has not improved by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> epochs, and (by default) puts back the weights of the best epoch.
/// </summary>
public sealed class EarlyStopping : TrainingCallback, ICheckpointable
{
    private double _best;
    private int _bestEpoch, _epochsWithoutImprovement;
    private float[][]? _bestWeights;

    public EarlyStopping(int patience, double minDelta = 0, Monitor monitor = Monitor.ValidationLoss, bool restoreBestWeights = true)
    {
        if (patience < 1) throw new ArgumentOutOfRangeException(nameof(patience), patience, "patience must be at least 1 epoch.");
        if (!(minDelta >= 0)) throw new ArgumentOutOfRangeException(nameof(minDelta), minDelta, "minDelta must be non-negative.");
        (Patience, MinDelta, Watched, RestoreBestWeights) = (patience, minDelta, monitor, restoreBestWeights);
    }

    public int Patience { get; }
    public double MinDelta { get; }
    public Monitor Watched { get; }
    public bool RestoreBestWeights { get; }

    /// <summary>The epoch whose weights are kept (0 before the first epoch ends).</summary>
    public int BestEpoch => _bestEpoch;

    public override void OnTrainBegin(TrainingContext context)
    {
        (_best, _bestEpoch, _epochsWithoutImprovement, _bestWeights) = (double.PositiveInfinity, 0, 0, null);
    }

    public override void OnEpochEnd(TrainingContext context, EpochRecord epoch)
    {
        double value = Watched == Monitor.ValidationLoss ? epoch.ValidationLoss : epoch.TrainLoss;
        if (value < _best - MinDelta)
        {
            (_best, _bestEpoch, _epochsWithoutImprovement) = (value, epoch.Epoch, 0);
            if (RestoreBestWeights) _bestWeights = context.Model.Snapshot();
            return;
        }
        if (++_epochsWithoutImprovement >= Patience)
            context.RequestStop($"early stopping: {(Watched == Monitor.ValidationLoss ? "validation" : "training")} loss has not improved for {Patience} epochs (best {_best:G5} at epoch {_bestEpoch})");
    }

    public override void OnTrainEnd(TrainingContext context)
    {
        if (_bestWeights is not null) context.Model.Restore(_bestWeights);
    }

    public void SaveState(CheckpointData data, string prefix)
    {
        data.Values[prefix + "best"] = _best.ToString("R", CultureInfo.InvariantCulture);
        data.Values[prefix + "best_epoch"] = _bestEpoch.ToString(CultureInfo.InvariantCulture);
        data.Values[prefix + "waiting"] = _epochsWithoutImprovement.ToString(CultureInfo.InvariantCulture);
        if (_bestWeights is not null)
            for (int i = 0; i < _bestWeights.Length; i++) data.Tensors[$"{prefix}weights.{i}"] = _bestWeights[i];
    }

    public void LoadState(CheckpointData data, string prefix)
    {
        _best = double.Parse(data.Value(prefix + "best"), CultureInfo.InvariantCulture);
        _bestEpoch = int.Parse(data.Value(prefix + "best_epoch"), CultureInfo.InvariantCulture);
        _epochsWithoutImprovement = int.Parse(data.Value(prefix + "waiting"), CultureInfo.InvariantCulture);
        _bestWeights = data.Tensors.ContainsKey(prefix + "weights.0")
            ? Enumerable.Range(0, data.Tensors.Count(kv => kv.Key.StartsWith(prefix + "weights.", StringComparison.Ordinal))).Select(i => data.Tensor($"{prefix}weights.{i}")).ToArray()
            : null;
    }
}
