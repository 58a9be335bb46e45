using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Recur.Data;
using Recur.Evaluation;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Training;

/// <summary>An input column beside the target, scaled with its training part's statistics (the run's --scaler).</summary>
public sealed record FeatureScaling(
    [property: JsonPropertyName("column")] string Column,
    [property: JsonPropertyName("center")] double Center,
    [property: JsonPropertyName("scale")] double Scale);

/// <summary>What a forecaster needs to read a new file the way it read its training file (<c>recur.data</c>).</summary>
public sealed record ForecastState
{
    [JsonPropertyName("task")] public string Task { get; init; } = "forecast";
    [JsonPropertyName("target")] public required string Target { get; init; }
    [JsonPropertyName("has_header")] public bool HasHeader { get; init; } = true;
    [JsonPropertyName("delimiter")] public string Delimiter { get; init; } = ",";
    [JsonPropertyName("lookback")] public int Lookback { get; init; }
    [JsonPropertyName("horizon")] public int Horizon { get; init; }
    [JsonPropertyName("season")] public int Season { get; init; } = 1;
    [JsonPropertyName("missing")] public string Missing { get; init; } = "error";
    [JsonPropertyName("stride")] public int Stride { get; init; } = 1;
    [JsonPropertyName("time_column")] public string? TimeColumn { get; init; }
    [JsonPropertyName("features")] public FeatureScaling[] Features { get; init; } = [];
    [JsonPropertyName("scaling")] public required ForecastScaling Scaling { get; init; }
    [JsonPropertyName("split")] public string Split { get; init; } = $"chronological windows: last {ForecastWindows.TestFraction} test, {ForecastWindows.ValidationFraction} before it validation";
}

/// <summary>
/// <c>--task forecast</c>: one target column → sliding windows → a recurrent forecaster of the next H values, with
/// the window normalisation chosen on validation and naive / seasonal-naive baselines beside every score.
/// </summary>
public static class ForecastWorkflow
{
    /// <summary>
    /// Trains one forecaster per normalisation candidate and keeps the best on validation. With
    /// <paramref name="checkpoints"/>, each candidate checkpoints into its own subdirectory and resumes from it.
    /// </summary>
    public static TrainedRun Train(TrainConfig config, CsvTable table, TextWriter log, IReadOnlyList<TrainingCallback>? callbacks = null,
        CheckpointSettings? checkpoints = null)
    {
        string? timeColumn = config.TimeColumn is string tc ? table.ColumnNames[table.ColumnIndex(tc)] : null; // rows are used in file order
        string target = ResolveTarget(config, table, log);
        string missing = MissingValues.Check(config.Missing);
        string scaler = Scaler.Check(config.Scaler);
        var featureNames = (config.Features ?? []).SelectMany(f => f.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Select(f => table.ColumnNames[table.ColumnIndex(f)]).Distinct().ToArray();
        if (featureNames.Contains(target))
            throw new InvalidInputException($"--features: '{target}' is the target; it is always an input already.");
        if (config.Calendar == true)
        {
            if (timeColumn is null) throw new InvalidInputException("--calendar: calendar features need the time column; name it with --time-column.");
            featureNames = [.. featureNames, .. CalendarFeatures.Names(CalendarFeatures.ParseTimes(table, table.ColumnIndex(timeColumn)))];
        }
        var (series, rawFeatures) = ReadColumns(table, target, featureNames, missing, timeColumn);
        int season = ResolveSeason(config, table, series, log);
        int horizon = config.Horizon ?? 1;
        int lookback = config.Lookback ?? DefaultLookback(series.Length, horizon, season);
        int stride = config.Stride ?? 1;
        var unscaled = new ForecastWindows(series, lookback, horizon, table.Source, stride: stride);
        // Feature statistics come from the rows of training windows only.
        var featureScaling = featureNames.Select((name, k) => Standardise(name, rawFeatures[k].AsSpan(0, unscaled.TrainingRows.Length), scaler)).ToArray();
        var windows = new ForecastWindows(series, lookback, horizon, table.Source, covariates: Scale(rawFeatures, featureScaling), stride: stride);
        string requested = (config.Normalize ?? "auto").ToLowerInvariant();
        string[] candidates = requested == "auto" ? ForecastScaling.Modes : [requested];

        var resolved = config with
        {
            Task = "forecast", Target = [target], Features = featureNames.Length > 0 ? featureNames : null, Lookback = lookback, Horizon = horizon, Season = season,
            Cell = config.Cell ?? "lstm", Layers = config.Layers ?? 1, Hidden = config.Hidden ?? 32,
            Dropout = config.Dropout ?? 0.0, Epochs = config.Epochs ?? 40, BatchSize = config.BatchSize ?? 32,
            Lr = config.Lr ?? 3e-3, Optimizer = config.Optimizer ?? "adam", Clip = config.Clip ?? 1.0, Seed = config.Seed ?? 42,
            Normalize = requested, Missing = missing, Scaler = scaler, Stride = stride,
        };
        var validationActual = windows.Actual(windows.ValidationStart, windows.ValidationCount);
        double naiveValidation = ForecastMetrics.Rmse(windows.Naive(windows.ValidationStart, windows.ValidationCount), validationActual);

        (SequenceModel model, ForecastScaling scaling, TrainingHistory history, double rmse, GradientFlowMonitor monitor)? best = null;
        var candidateScores = new JsonObject();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < candidates.Length; i++)
        {
            string mode = candidates[i];
            var scaling = ForecastScaling.Fit(mode, windows.TrainingRows, scaler);
            var options = WorkflowOptions.Create(resolved, callbacks, checkpoints, mode);
            // --time-limit bounds the whole run: the candidates share what is left of it.
            if (resolved.TimeLimit is double limit)
                options = options with { TimeLimitSeconds = Math.Max(1e-3, (limit - clock.Elapsed.TotalSeconds) / (candidates.Length - i)) };
            var model = new SequenceModel(Spec(resolved, horizon) with { InputSize = windows.Features }, new RecurRandom(options.Seed));
            var history = Trainer.Fit(model,
                windows.Dataset(scaling, 0, windows.TrainCount),
                windows.Dataset(scaling, windows.ValidationStart, windows.ValidationCount), options, log);
            double rmse = ForecastMetrics.Rmse(Forecast(model, windows, scaling, windows.ValidationStart, windows.ValidationCount), validationActual);
            candidateScores[mode] = double.IsFinite(rmse) ? rmse : null;
            if (candidates.Length > 1) log.WriteLine($"normalisation {mode}: validation RMSE {rmse:G5} (naive {naiveValidation:G5})");
            if (best is null || rmse < best.Value.rmse || double.IsNaN(best.Value.rmse)) best = (model, scaling, history, rmse, WorkflowOptions.Monitor(options));
        }
        var chosen = best!.Value;
        if (candidates.Length > 1) log.WriteLine($"chose normalisation '{chosen.scaling.Mode}' on validation");
        if (!(chosen.rmse < naiveValidation))
            log.WriteLine($"warning: the model does not beat the naive forecast on validation (RMSE {chosen.rmse:G5} vs {naiveValidation:G5}); " +
                          "try a longer --lookback, more --epochs, or check that the series is predictable beyond its last value.");

        var state = new ForecastState
        {
            Target = target, HasHeader = !(config.NoHeader ?? false), Delimiter = table.Delimiter.ToString(), Missing = missing,
            Lookback = lookback, Horizon = horizon, Season = season, Scaling = chosen.scaling, Features = featureScaling, Stride = stride, TimeColumn = timeColumn,
        };
        var report = Score(chosen.model, windows, state, windows.TestStart, windows.TestCount, candidateScores);
        return new TrainedRun(chosen.model, resolved, JsonSerializer.Serialize(state), report, chosen.history)
        {
            GradientFlow = chosen.monitor,
            TestPredictionsCsv = PredictionsCsv(chosen.model, windows, state),
        };
    }

    /// <summary>Scores a saved forecaster on a file: its test part (the same chronological rule), or every window.</summary>
    public static TaskReport Evaluate(ModelFile file, CsvTable table, bool all)
    {
        var (state, windows) = Read(file, table);
        return all ? Score(file.Model, windows, state, 0, windows.Count, null) : Score(file.Model, windows, state, windows.TestStart, windows.TestCount, null);
    }

    /// <summary>
    /// One forecast per complete input window of the file, including the one that ends at the last row (the
    /// forecast beyond the data): <c>{"end_row": r, "forecast": [...]}</c>, r the 1-based data row of the window's last value.
    /// Every position is forecast whatever the training stride.
    /// </summary>
    public static JsonArray Predict(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        var (series, covariates) = ReadScaled(table, state);
        if (series.Length < state.Lookback)
            throw new InvalidInputException($"{table.Source}: {series.Length} rows are fewer than the model's lookback of {state.Lookback}.");
        // Windows that only need inputs: pad the series with the horizon so the last window ends at the last row.
        double[] Pad(double[] values)
        {
            var padded = new double[values.Length + state.Horizon];
            values.CopyTo(padded, 0);
            return padded;
        }
        var windows = new ForecastWindows(Pad(series), state.Lookback, state.Horizon, table.Source, minimumWindows: 1, covariates.Select(Pad).ToArray());
        var forecasts = Forecast(file.Model, windows, state.Scaling, 0, windows.Count);
        var result = new JsonArray();
        for (int n = 0; n < windows.Count; n++)
            result.Add(new JsonObject
            {
                ["end_row"] = n + state.Lookback,
                ["forecast"] = new JsonArray(forecasts.AsSpan(n * state.Horizon, state.Horizon).ToArray().Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            });
        return result;
    }

    /// <summary>
    /// The test part's forecasts beside the actual values and the baselines, one row per window and step:
    /// <c>window,row,step,actual,predicted,naive,seasonal_naive</c> (row: 1-based data row of the predicted value).
    /// </summary>
    private static string PredictionsCsv(SequenceModel model, ForecastWindows windows, ForecastState state)
    {
        int start = windows.TestStart, count = windows.TestCount, H = windows.Horizon;
        var predicted = Forecast(model, windows, state.Scaling, start, count);
        var actual = windows.Actual(start, count);
        var naive = windows.Naive(start, count);
        var seasonal = windows.SeasonalNaive(start, count, state.Season);
        var csv = new System.Text.StringBuilder("window,row,step,actual,predicted,naive,seasonal_naive\n");
        for (int n = 0; n < count; n++)
            for (int h = 0; h < H; h++)
            {
                int k = n * H + h;
                csv.Append(System.Globalization.CultureInfo.InvariantCulture,
                    $"{start + n},{windows.FirstRow(start + n) + windows.Lookback + h + 1},{h + 1},{actual[k]:R},{predicted[k]:R},{naive[k]:R},{seasonal[k]:R}\n");
            }
        return csv.ToString();
    }

    /// <summary>Forecasts [N, H] in original units for windows [start, start+count).</summary>
    public static double[] Forecast(SequenceModel model, ForecastWindows windows, ForecastScaling scaling, int start, int count) =>
        windows.Restore(scaling, start, Trainer.Predict(model, windows.Dataset(scaling, start, count)));

    private static TaskReport Score(SequenceModel model, ForecastWindows windows, ForecastState state, int start, int count, JsonObject? candidates)
    {
        var actual = windows.Actual(start, count);
        var training = windows.TrainingRows;
        var metrics = Metrics(Forecast(model, windows, state.Scaling, start, count), actual, training, state.Season);
        var baselines = new Dictionary<string, IReadOnlyDictionary<string, double>>
        {
            ["naive"] = Metrics(windows.Naive(start, count), actual, training, state.Season),
            ["seasonal_naive"] = Metrics(windows.SeasonalNaive(start, count, state.Season), actual, training, state.Season),
        };
        var details = new JsonObject { ["normalize"] = state.Scaling.Mode, ["season"] = state.Season, ["lookback"] = state.Lookback, ["horizon"] = state.Horizon };
        if (candidates is not null) details["validation_rmse_by_normalize"] = candidates;
        return new TaskReport("forecast", metrics, baselines, count) { Details = details };
    }

    private static Dictionary<string, double> Metrics(double[] predicted, double[] actual, ReadOnlySpan<double> training, int season) => new()
    {
        ["rmse"] = ForecastMetrics.Rmse(predicted, actual),
        ["mae"] = ForecastMetrics.Mae(predicted, actual),
        ["mape"] = ForecastMetrics.Mape(predicted, actual),
        // MASE needs more training rows than one season; without them it is reported as null.
        ["mase"] = training.Length > season ? ForecastMetrics.Mase(predicted, actual, training, season) : double.NaN,
    };

    private static ForecastState ReadState(ModelFile file)
    {
        try
        {
            var state = JsonSerializer.Deserialize<ForecastState>(file.DataState);
            if (state is null || state.Task != "forecast") throw new ModelFileException(file.Path, "is not a forecaster.");
            if (state.Lookback < 1 || state.Stride < 1 || state.Horizon != file.Model.Spec.OutputSize || state.Season < 1 || state.Scaling is null
                || !ForecastScaling.Modes.Contains(state.Scaling.Mode) || !double.IsFinite(state.Scaling.Scale) || !(state.Scaling.StepScale > 0))
                throw new ModelFileException(file.Path, "has a forecasting state that does not fit its model (lookback, horizon, season or scaling).");
            return state;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }

    private static (ForecastState, ForecastWindows) Read(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        var (series, covariates) = ReadScaled(table, state);
        return (state, new ForecastWindows(series, state.Lookback, state.Horizon, table.Source, covariates: covariates, stride: state.Stride));
    }

    private static string ResolveTarget(TrainConfig config, CsvTable table, TextWriter log)
    {
        if (config.Target is { Length: > 1 })
            throw new InvalidInputException($"--target: one target column is supported by this version; found {config.Target.Length} ({string.Join(", ", config.Target)}).");
        if (config.Target is [var name]) return table.ColumnNames[table.ColumnIndex(name)];
        // The usual layout has time columns first and the value last: take the last column whose first cell is a
        // number. A later bad cell in that column is then reported with its line, not silently skipped.
        int time = config.TimeColumn is string timeColumn ? table.ColumnIndex(timeColumn) : -1;
        for (int c = table.ColumnCount - 1; c >= 0; c--)
        {
            if (c == time || table.RowCount == 0
                || !double.TryParse(table.Cell(0, c), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
                continue;
            log.WriteLine($"target: column '{table.ColumnNames[c]}' (the last numeric column; choose another with --target)");
            return table.ColumnNames[c];
        }
        throw new InvalidInputException($"{table.Source}: no column starts with a number to forecast; name the target with --target.");
    }

    /// <summary>
    /// The target and feature columns as numbers, missing values treated by the policy; "drop" removes a row when
    /// any of its columns is missing, so the columns stay aligned.
    /// </summary>
    private static (double[] series, double[][] features) ReadColumns(CsvTable table, string target, string[] features, string missing, string? timeColumn)
    {
        var names = features.Prepend(target).ToArray();
        DateTime[]? times = names.Any(n => n.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal))
            ? CalendarFeatures.ParseTimes(table, table.ColumnIndex(timeColumn ?? throw new InvalidInputException($"{table.Source}: calendar features need a time column.")))
            : null;
        double[] Read(string name, bool allowMissing) => name.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal)
            ? CalendarFeatures.Compute(name, times!)
            : table.Numeric(table.ColumnIndex(name), allowMissing);
        if (missing == "error") return Split(names.Select(n => Read(n, false)).ToArray());
        var columns = names.Select(n => Read(n, true)).ToArray();
        if (missing == "drop")
        {
            var keep = Enumerable.Range(0, table.RowCount).Where(r => columns.All(c => double.IsFinite(c[r]))).ToArray();
            if (keep.Length == 0) throw new InvalidInputException($"{table.Source}: every row has a missing value.");
            return Split(columns.Select(c => keep.Select(r => c[r]).ToArray()).ToArray());
        }
        return Split(columns.Select((c, i) => MissingValues.Apply(c, missing, $"{table.Source}, column '{names[i]}'")).ToArray());

        static (double[], double[][]) Split(double[][] all) => (all[0], all[1..]);
    }

    /// <summary>A saved forecaster's target and scaled features from a file, read as at training.</summary>
    private static (double[] series, double[][] covariates) ReadScaled(CsvTable table, ForecastState state)
    {
        var (series, raw) = ReadColumns(table, state.Target, state.Features.Select(f => f.Column).ToArray(), MissingValues.Check(state.Missing), state.TimeColumn);
        return (series, Scale(raw, state.Features));
    }

    private static FeatureScaling Standardise(string column, ReadOnlySpan<double> trainingRows, string scaler)
    {
        var (center, scale) = Scaler.Fit(scaler, trainingRows);
        return new FeatureScaling(column, center, scale);
    }

    private static double[][] Scale(double[][] raw, FeatureScaling[] scaling) =>
        raw.Select((column, k) => column.Select(v => (v - scaling[k].Center) / scaling[k].Scale).ToArray()).ToArray();

    private static int ResolveSeason(TrainConfig config, CsvTable table, double[] series, TextWriter log)
    {
        if (config.Season is int season)
        {
            if (season < 1) throw new InvalidInputException($"--season: expected a period of at least 1; found {season}.");
            return season;
        }
        if (config.PeriodColumn is string column)
        {
            var values = table.Numeric(table.ColumnIndex(column));
            int period = (int)Math.Round(values.Max() - values.Min()) + 1;
            if (period < 2) throw new InvalidInputException($"{table.Source}, column '{column}': a period column needs at least two distinct values; found range {values.Min()}..{values.Max()}.");
            return period;
        }
        // Detect on the first 70% only: the season must not be learned from the test part.
        int detected = SeasonDetector.Detect(series.AsSpan(0, (int)(series.Length * (1 - ForecastWindows.TestFraction - ForecastWindows.ValidationFraction))));
        log.WriteLine(detected > 1
            ? $"season: {detected} steps (detected by autocorrelation; set --season to override)"
            : "season: none detected (seasonal naive equals naive; set --season or --period-column if the series has one)");
        return detected;
    }

    /// <summary>Two seasons (at least 12 steps), capped so at least half the rows still start training windows.</summary>
    private static int DefaultLookback(int rows, int horizon, int season) =>
        Math.Max(1, Math.Min(Math.Max(12, 2 * season), (rows - horizon) / 4));

    internal static SequenceModelSpec Spec(TrainConfig c, int outputs) => new()
    {
        Cell = RecurrentLayers.ParseCell(c.Cell!), InputSize = 1, HiddenSize = c.Hidden!.Value,
        Layers = c.Layers!.Value, Dropout = c.Dropout!.Value, OutputSize = outputs,
    };
}
