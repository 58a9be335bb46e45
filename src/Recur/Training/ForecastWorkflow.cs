using System.Globalization;
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

/// <summary>
/// What a forecaster needs to read a new file the way it read its training file (<c>recur.data</c>). A single-target
/// forecaster stores its target and scaling in <c>target</c> and <c>scaling</c>; with several targets <c>targets</c>
/// and <c>scalings</c> list all of them (the first one also in <c>target</c>/<c>scaling</c>).
/// </summary>
public sealed record ForecastState
{
    [JsonPropertyName("task")] public string Task { get; init; } = "forecast";
    [JsonPropertyName("target")] public required string Target { get; init; }

    /// <summary>Every target column, in output order (null: the one <see cref="Target"/>).</summary>
    [JsonPropertyName("targets"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string[]? Targets { get; init; }
    [JsonPropertyName("has_header")] public bool HasHeader { get; init; } = true;
    [JsonPropertyName("delimiter")] public string Delimiter { get; init; } = ",";
    [JsonPropertyName("lookback")] public int Lookback { get; init; }
    [JsonPropertyName("horizon")] public int Horizon { get; init; }
    [JsonPropertyName("season")] public int Season { get; init; } = 1;
    [JsonPropertyName("missing")] public string Missing { get; init; } = "error";
    [JsonPropertyName("stride")] public int Stride { get; init; } = 1;

    /// <summary>The time column, or the comma-separated time columns (year,month,day or year,period).</summary>
    [JsonPropertyName("time_column")] public string? TimeColumn { get; init; }

    /// <summary>The column whose values name the series (null: the file is one series).</summary>
    [JsonPropertyName("id_column"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? IdColumn { get; init; }
    [JsonPropertyName("features")] public FeatureScaling[] Features { get; init; } = [];

    /// <summary>The first target's window normalisation.</summary>
    [JsonPropertyName("scaling")] public required ForecastScaling Scaling { get; init; }

    /// <summary>Every target's window normalisation, in <see cref="AllTargets"/> order (null: the one <see cref="Scaling"/>).</summary>
    [JsonPropertyName("scalings"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ForecastScaling[]? Scalings { get; init; }
    /// <summary>
    /// A stateful forecaster (<see cref="StatefulForecast"/>): it reads each series from its first row with its state
    /// carried, so it forecasts from any history length; <see cref="Lookback"/> then only places the evaluation
    /// origins (the windowed forecaster's). Absent in older files: false.
    /// </summary>
    [JsonPropertyName("stateful"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool Stateful { get; init; }

    /// <summary>The truncated back-propagation window a stateful forecaster was trained with (0: not stateful).</summary>
    [JsonPropertyName("bptt"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Bptt { get; init; }
    [JsonPropertyName("split")] public string Split { get; init; } = $"chronological windows: last {ForecastWindows.TestFraction} test, {ForecastWindows.ValidationFraction} before it validation";

    [JsonIgnore] public string[] AllTargets => Targets ?? [Target];
    [JsonIgnore] public ForecastScaling[] AllScalings => Scalings ?? [Scaling];
}

/// <summary>One series of a forecasting file: its id, its data rows (0-based, file order), targets [T][n] and raw features [K][n].</summary>
internal sealed record SeriesColumns(string? Id, int[] Rows, double[][] Targets, double[][] Features);

/// <summary>How a file's columns are read as series: targets, features, missing-value policy, time and id columns.</summary>
internal sealed record ColumnPlan(string[] Targets, string[] Features, string Missing, string? TimeColumn, string? IdColumn);

/// <summary>
/// <c>--task forecast</c>: one or more target columns, in one series or several (<c>--id-column</c>) → sliding
/// windows that never cross series → one global recurrent forecaster of the next H values of every target, with the
/// window normalisation chosen on validation and naive / seasonal-naive baselines beside every score. With
/// <c>--stateful</c> the forecaster is instead trained over whole series in carried-state windows
/// (<see cref="StatefulForecast"/>) and scored at the same windows' origins.
/// </summary>
public static class ForecastWorkflow
{
    /// <summary>How pooled figures are formed, reported beside them when there are several targets or series.</summary>
    public const string Pooling =
        "rmse, mae and mape over every test value of every target and series (original units); mase: per target, the absolute " +
        "errors of each series scaled by the in-sample seasonal-naive error of that series on its training rows, averaged over the values; " +
        "over several targets, the mean of the per-target mase";

    /// <summary>
    /// Trains one forecaster per normalisation candidate and keeps the best on validation. With
    /// <paramref name="checkpoints"/>, each candidate checkpoints into its own subdirectory and resumes from it.
    /// </summary>
    public static TrainedRun Train(TrainConfig config, CsvTable table, TextWriter log, IReadOnlyList<TrainingCallback>? callbacks = null,
        CheckpointSettings? checkpoints = null)
    {
        var pretrained = PretrainedModel.Open(config);
        if (pretrained is not null) config = pretrained.Inherit(config);
        bool stateful = config.Stateful ?? false;
        if (stateful) StatefulForecast.Check(config);
        else if (config.Bptt is int k)
            throw new InvalidInputException($"--bptt {k}: the truncated back-propagation window applies to stateful training; add --stateful, or drop --bptt (the windowed forecaster reads --lookback steps).");
        // Rows are used in file order (within each series); times only give calendar inputs and are checked for order.
        string? timeColumn = config.TimeColumn is string tc ? string.Join(",", TimeColumns.Resolve(table, tc)) : null;
        string? idColumn = config.IdColumn is string ic ? table.ColumnNames[table.ColumnIndex(ic)] : null;
        string[] targets = ResolveTargets(config, table, log, timeColumn, idColumn);
        string missing = MissingValues.Check(config.Missing);
        string scaler = Scaler.Check(config.Scaler);
        var featureNames = (config.Features ?? []).SelectMany(f => f.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Select(f => table.ColumnNames[table.ColumnIndex(f)]).Distinct().ToArray();
        foreach (var target in targets)
            if (featureNames.Contains(target))
                throw new InvalidInputException($"--features: '{target}' is a target; every target is an input already.");
        if (idColumn is not null && (targets.Contains(idColumn) || featureNames.Contains(idColumn)))
            throw new InvalidInputException($"--id-column: '{idColumn}' names the series; it cannot also be a target or a feature.");
        TimeColumns? time = timeColumn is not null && (config.Calendar == true || timeColumn.Contains(',')) ? TimeColumns.Parse(table, timeColumn) : null;
        if (config.Calendar == true)
        {
            if (time is null) throw new InvalidInputException("--calendar: calendar features need the time column; name it with --time-column.");
            var calendar = CalendarFeatures.Names(time.Times);
            // Year + period times all fall on a period's first day: their weekday and hour say nothing.
            if (time.PeriodsPerYear is not null) calendar = calendar.Where(n => n.Contains("day_of_year", StringComparison.Ordinal)).ToArray();
            featureNames = [.. featureNames, .. calendar];
        }
        var plan = new ColumnPlan(targets, featureNames, missing, timeColumn, idColumn);
        var series = ReadSeries(table, plan, time);
        int season = ResolveSeason(config, table, series, time, log);
        int horizon = config.Horizon ?? 1;
        int lookback = config.Lookback ?? ForecastWindows.DefaultLookback(series.Min(s => s.Rows.Length), horizon, season);
        int stride = config.Stride ?? 1;
        var unscaled = Panel(table, plan, series, lookback, horizon, stride, null);
        // Feature statistics come from the rows of training windows only, of every series.
        var featureScaling = featureNames.Select((name, k) => Standardise(name,
            series.Count == 1 ? series[0].Features[k].AsSpan(0, unscaled.Series[0].TrainingRowCount)
                : series.SelectMany((s, i) => s.Features[k].Take(unscaled.Series[i].TrainingRowCount)).ToArray(), scaler)).ToArray();
        var panel = Panel(table, plan, series, lookback, horizon, stride, featureScaling);
        string requested = (config.Normalize ?? "auto").ToLowerInvariant();
        // A stateful model reads whole series: only global scaling applies (StatefulForecast.Check refused the rest).
        string[] candidates = stateful ? ["global"] : requested == "auto" ? ForecastScaling.Modes : [requested];
        int bptt = config.Bptt ?? StatefulForecast.DefaultBptt;
        int T = targets.Length;

        var resolved = config with
        {
            Task = "forecast", Target = targets, Features = featureNames.Length > 0 ? featureNames : null, Lookback = lookback, Horizon = horizon, Season = season,
            Cell = config.Cell ?? "lstm", Layers = config.Layers ?? 1, Hidden = config.Hidden ?? 32,
            Dropout = config.Dropout ?? 0.0, Epochs = config.Epochs ?? 40, BatchSize = config.BatchSize ?? 32,
            Lr = config.Lr ?? 3e-3, Optimizer = config.Optimizer ?? "adam", Clip = config.Clip ?? 1.0, Seed = config.Seed ?? 42,
            Normalize = stateful ? "global" : requested, Missing = missing, Scaler = scaler, Stride = stride, TimeColumn = timeColumn, IdColumn = idColumn,
            Stateful = stateful ? true : null, Bptt = stateful ? bptt : null,
        };
        if (stateful)
            log.WriteLine($"stateful forecaster: each series read from its first row in windows of {bptt} steps, state carried (detached); " +
                          $"global scaling; scored at the windowed forecaster's origins (lookback {lookback}) with the state warmed over all earlier rows");
        var validationActual = panel.Actual(ForecastPart.Validation);
        int validationWindows = panel.Count(ForecastPart.Validation);
        var naiveRmse = PerTargetRmse(panel.Naive(ForecastPart.Validation), validationActual, validationWindows, T, horizon);
        // One target: the validation RMSE. Several: each target's RMSE relative to its naive RMSE, averaged, so a
        // target in large units does not outweigh the others.
        double ValidationScore(double[] rmse) => T == 1 ? rmse[0] : rmse.Select((r, k) => r / naiveRmse[k]).Average();
        double naiveScore = T == 1 ? naiveRmse[0] : 1.0;

        (SequenceModel model, ForecastScaling[] scalings, TrainingHistory history, double score, GradientFlowMonitor monitor, TransferReport? transfer)? best = null;
        var candidateScores = new JsonObject();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < candidates.Length; i++)
        {
            string mode = candidates[i];
            var scalings = Enumerable.Range(0, T).Select(k => ForecastScaling.Fit(mode, panel.TrainingSegments(k), scaler)).ToArray();
            var options = WorkflowOptions.Create(resolved, callbacks, checkpoints, mode);
            // --time-limit bounds the whole run: the candidates share what is left of it.
            if (resolved.TimeLimit is double limit)
                options = options with { TimeLimitSeconds = Math.Max(1e-3, (limit - clock.Elapsed.TotalSeconds) / (candidates.Length - i)) };
            var spec = stateful ? StatefulForecast.Spec(resolved, T * horizon, panel.Features)
                : AttentionDecoder.Apply(Spec(resolved, T * horizon), resolved, T) with { InputSize = panel.Features };
            var model = new SequenceModel(spec, new RecurRandom(options.Seed));
            var transfer = pretrained?.Apply(model, "forecast", null, null, log);
            options = FineTuning.Configure(options with { Stateful = stateful }, FineTuning.From(resolved, model, transfer), log);
            // Stateful: the training streams, and validation scored at its origins after the whole history before them.
            var train = stateful ? ForecastStreams.Training(panel, scalings, bptt, resolved.BatchSize!.Value) : panel.Dataset(scalings, ForecastPart.Training);
            var validation = stateful ? ForecastStreams.Scoring(panel.Series, scalings, ForecastStreams.Origins(panel, ForecastPart.Validation), StatefulForecast.ScoringWindow)
                : panel.Dataset(scalings, ForecastPart.Validation);
            var history = Trainer.Fit(model, train, validation, options, log);
            var rmse = PerTargetRmse(Forecast(model, panel, scalings, ForecastPart.Validation), validationActual, validationWindows, T, horizon);
            double score = ValidationScore(rmse);
            if (T == 1) candidateScores[mode] = double.IsFinite(score) ? score : null;
            else candidateScores[mode] = new JsonObject(targets.Select((t, k) => KeyValuePair.Create<string, JsonNode?>(t, double.IsFinite(rmse[k]) ? rmse[k] : null)));
            if (candidates.Length > 1)
                log.WriteLine(T == 1 ? $"normalisation {mode}: validation RMSE {score:G5} (naive {naiveScore:G5})"
                    : $"normalisation {mode}: validation RMSE relative to naive, mean over {T} targets {score:G5}");
            if (best is null || score < best.Value.score || double.IsNaN(best.Value.score)) best = (model, scalings, history, score, WorkflowOptions.Monitor(options), transfer);
        }
        var chosen = best!.Value;
        if (candidates.Length > 1) log.WriteLine($"chose normalisation '{chosen.scalings[0].Mode}' on validation");
        if (!(chosen.score < naiveScore))
            log.WriteLine((T == 1 ? $"warning: the model does not beat the naive forecast on validation (RMSE {chosen.score:G5} vs {naiveScore:G5}); "
                              : $"warning: the model does not beat the naive forecast on validation (RMSE relative to naive, mean over targets {chosen.score:G5}); ") +
                          "try a longer --lookback, more --epochs, or check that the series is predictable beyond its last value.");

        var state = new ForecastState
        {
            Target = targets[0], Targets = T > 1 ? targets : null, HasHeader = !(config.NoHeader ?? false), Delimiter = table.Delimiter.ToString(), Missing = missing,
            Lookback = lookback, Horizon = horizon, Season = season, Scaling = chosen.scalings[0], Scalings = T > 1 ? chosen.scalings : null,
            Features = featureScaling, Stride = stride, TimeColumn = timeColumn, IdColumn = idColumn,
            Stateful = stateful, Bptt = stateful ? bptt : 0,
        };
        var report = Score(chosen.model, panel, state, ForecastPart.Test, candidateScores);
        return new TrainedRun(chosen.model, resolved, JsonSerializer.Serialize(state), report, chosen.history)
        {
            GradientFlow = chosen.monitor,
            Transfer = chosen.transfer,
            TestPredictionsCsv = PredictionsCsv(chosen.model, panel, state),
        };
    }

    /// <summary>Scores a saved forecaster on a file: its test part (the same chronological rule per series), or every window.</summary>
    public static TaskReport Evaluate(ModelFile file, CsvTable table, bool all)
    {
        var (state, panel) = Read(file, table);
        return Score(file.Model, panel, state, all ? ForecastPart.All : ForecastPart.Test, null);
    }

    /// <summary>
    /// One forecast per complete input window of each series, including the one that ends at its last row (the
    /// forecast beyond the data): <c>{"end_row": r, "forecast": [...]}</c>, r the 1-based data row of the window's
    /// last value; with several targets <c>"forecast"</c> is an object of one array per target, and with an id
    /// column each entry starts with <c>"id"</c>. Every position is forecast whatever the training stride.
    /// </summary>
    public static JsonArray Predict(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        var (plan, series, featureScaling) = ReadScaled(table, state);
        var targets = state.AllTargets;
        var result = new JsonArray();
        for (int s = 0; s < series.Count; s++)
        {
            var one = series[s];
            string where = Where(table, plan, one.Id);
            if (state.Stateful)
            {
                result.Add(PredictStateful(file.Model, state, one, featureScaling, plan.IdColumn is not null, where));
                continue;
            }
            if (one.Rows.Length < state.Lookback)
                throw new InvalidInputException($"{where}: {one.Rows.Length} rows are fewer than the model's lookback of {state.Lookback}.");
            // Windows that only need inputs: pad the series with the horizon so the last window ends at the last row.
            double[] Pad(double[] values)
            {
                var padded = new double[values.Length + state.Horizon];
                values.CopyTo(padded, 0);
                return padded;
            }
            var windows = new ForecastWindows(one.Targets.Select(Pad).ToArray(), state.Lookback, state.Horizon, where, minimumWindows: 1,
                Scale(one.Features, featureScaling).Select(Pad).ToArray());
            var forecasts = Forecast(file.Model, windows, state.AllScalings, 0, windows.Count);
            JsonArray Values(int n, int k) =>
                new(forecasts.AsSpan((n * targets.Length + k) * state.Horizon, state.Horizon).ToArray().Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
            for (int n = 0; n < windows.Count; n++)
            {
                var entry = new JsonObject();
                if (plan.IdColumn is not null) entry["id"] = one.Id;
                entry["end_row"] = one.Rows[n + state.Lookback - 1] + 1;
                entry["forecast"] = targets.Length == 1 ? Values(n, 0)
                    : new JsonObject(targets.Select((t, k) => KeyValuePair.Create<string, JsonNode?>(t, Values(n, k))));
                result.Add(entry);
            }
        }
        return result;
    }

    /// <summary>
    /// A stateful forecaster's one forecast for a series: after its last row, from its whole history (one pass from
    /// the first row), as <c>{["id": ...,] "end_row": r, "forecast": ...}</c> like the windowed entries.
    /// </summary>
    private static JsonObject PredictStateful(SequenceModel model, ForecastState state, SeriesColumns one, FeatureScaling[] featureScaling, bool ids, string where)
    {
        var targets = state.AllTargets;
        int n = one.Rows.Length, H = state.Horizon;
        if (n == 0) throw new InvalidInputException($"{where}: no rows to forecast from.");
        // The H rows after the history are only placeholders for targets the model never reads.
        double[] Pad(double[] values)
        {
            var padded = new double[n + H];
            values.CopyTo(padded, 0);
            return padded;
        }
        var history = new ForecastWindows(one.Targets.Select(Pad).ToArray(), 1, H, where, minimumWindows: 1, Scale(one.Features, featureScaling).Select(Pad).ToArray());
        var forecast = StatefulForecast.Forecast(model, [history], state.AllScalings, [[n - 1]]);
        JsonArray Values(int k) => new(forecast.AsSpan(k * H, H).ToArray().Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        var entry = new JsonObject();
        if (ids) entry["id"] = one.Id;
        entry["end_row"] = one.Rows[n - 1] + 1;
        entry["forecast"] = targets.Length == 1 ? Values(0) : new JsonObject(targets.Select((t, k) => KeyValuePair.Create<string, JsonNode?>(t, Values(k))));
        return entry;
    }

    /// <summary>
    /// The test part's forecasts beside the actual values and the baselines, one row per window, target and step:
    /// <c>[id,][target,]window,row,step,actual,predicted,naive,seasonal_naive</c> (row: 1-based data row of the
    /// predicted value; <c>id</c> with an id column, <c>target</c> with several targets).
    /// </summary>
    private static string PredictionsCsv(SequenceModel model, ForecastPanel panel, ForecastState state)
    {
        var part = ForecastPart.Test;
        int H = panel.Horizon, T = panel.TargetCount;
        var targets = state.AllTargets;
        var predicted = Forecast(model, panel, state.AllScalings, part);
        var actual = panel.Actual(part);
        var naive = panel.Naive(part);
        var seasonal = panel.SeasonalNaive(part, state.Season);
        bool ids = state.IdColumn is not null;
        var csv = new System.Text.StringBuilder($"{(ids ? "id," : "")}{(T > 1 ? "target," : "")}window,row,step,actual,predicted,naive,seasonal_naive\n");
        int at = 0;
        for (int s = 0; s < panel.Series.Count; s++)
        {
            var windows = panel.Series[s];
            var (start, count) = panel.Range(s, part);
            for (int n = 0; n < count; n++, at++)
                for (int k = 0; k < T; k++)
                    for (int h = 0; h < H; h++)
                    {
                        int i = (at * T + k) * H + h;
                        if (ids) csv.Append(Csv(panel.Ids[s]!)).Append(',');
                        if (T > 1) csv.Append(Csv(targets[k])).Append(',');
                        csv.Append(CultureInfo.InvariantCulture,
                            $"{start + n},{panel.Rows[s][windows.FirstRow(start + n) + windows.Lookback + h] + 1},{h + 1},{actual[i]:R},{predicted[i]:R},{naive[i]:R},{seasonal[i]:R}\n");
                    }
        }
        return csv.ToString();

        static string Csv(string text) => text.IndexOfAny([',', '"', '\n', '\r']) < 0 ? text : $"\"{text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
    }

    /// <summary>Forecasts [N, H] in original units for windows [start, start+count) of one target.</summary>
    public static double[] Forecast(SequenceModel model, ForecastWindows windows, ForecastScaling scaling, int start, int count) =>
        Forecast(model, windows, [scaling], start, count);

    /// <summary>Forecasts [N, T·H] in original units for windows [start, start+count).</summary>
    public static double[] Forecast(SequenceModel model, ForecastWindows windows, IReadOnlyList<ForecastScaling> scalings, int start, int count) =>
        windows.Restore(scalings, start, Trainer.Predict(model, windows.Dataset(scalings, start, count)));

    /// <summary>
    /// Forecasts [N, T·H] in original units for a part of every series, series after series; a stateful model
    /// forecasts at the same windows' origins with its state warmed over each series' history.
    /// </summary>
    public static double[] Forecast(SequenceModel model, ForecastPanel panel, IReadOnlyList<ForecastScaling> scalings, ForecastPart part) =>
        model.Spec.Stateful ? StatefulForecast.Forecast(model, panel.Series, scalings, ForecastStreams.Origins(panel, part))
            : panel.Restore(scalings, part, Trainer.Predict(model, panel.Dataset(scalings, part)));

    private static TaskReport Score(SequenceModel model, ForecastPanel panel, ForecastState state, ForecastPart part, JsonObject? candidates)
    {
        var actual = panel.Actual(part);
        var forecasts = new Dictionary<string, double[]>
        {
            ["model"] = Forecast(model, panel, state.AllScalings, part),
            ["naive"] = panel.Naive(part),
            ["seasonal_naive"] = panel.SeasonalNaive(part, state.Season),
        };
        int count = panel.Count(part), T = panel.TargetCount;
        var targets = state.AllTargets;
        var all = Enumerable.Range(0, panel.Series.Count).ToArray();
        var scored = forecasts.ToDictionary(f => f.Key, f => Metrics(panel, part, f.Value, actual, all, state.Season));
        var details = new JsonObject { ["normalize"] = state.Scaling.Mode, ["season"] = state.Season, ["lookback"] = state.Lookback, ["horizon"] = state.Horizon };
        if (state.Stateful) details["stateful"] = new JsonObject { ["bptt"] = state.Bptt, ["origins"] = "the windowed forecaster's test windows; state warmed over every earlier row" };
        if (candidates is not null) details[T == 1 ? "validation_rmse_by_normalize" : "validation_rmse_by_normalize_and_target"] = candidates;
        if (T > 1 || state.IdColumn is not null) details["pooling"] = Pooling;
        if (T > 1)
            details["targets"] = new JsonObject(targets.Select((name, k) => KeyValuePair.Create<string, JsonNode?>(name,
                Part(scored.ToDictionary(s => s.Key, s => s.Value.PerTarget[k]), null))));
        if (state.IdColumn is not null)
        {
            var perSeries = new JsonObject();
            for (int s = 0; s < panel.Series.Count; s++)
            {
                int[] one = [s];
                perSeries[panel.Ids[s]!] = Part(forecasts.ToDictionary(f => f.Key, f => Metrics(panel, part, f.Value, actual, one, state.Season).Overall), panel.Range(s, part).Count);
            }
            details["series"] = perSeries;
        }
        var baselines = new Dictionary<string, IReadOnlyDictionary<string, double>>
        {
            ["naive"] = scored["naive"].Overall,
            ["seasonal_naive"] = scored["seasonal_naive"].Overall,
        };
        return new TaskReport("forecast", scored["model"].Overall, baselines, count) { Details = details };

        static JsonObject Part(Dictionary<string, Dictionary<string, double>> byForecast, int? size)
        {
            var json = new TaskReport("forecast", byForecast["model"], new Dictionary<string, IReadOnlyDictionary<string, double>>
            {
                ["naive"] = byForecast["naive"],
                ["seasonal_naive"] = byForecast["seasonal_naive"],
            }, size ?? 0).ToJson();
            json.Remove("task");
            if (size is null) json.Remove("test_size");
            return json;
        }
    }

    /// <summary>
    /// Scores of one forecast [N, T·H] of a part against the actual values, over the given series: per target
    /// (RMSE, MAE, MAPE over the series' values; MASE with each series' own in-sample scale, weighted by its values)
    /// and overall (RMSE, MAE, MAPE over every target's values; MASE the mean of the targets').
    /// </summary>
    private static (Dictionary<string, double> Overall, Dictionary<string, double>[] PerTarget) Metrics(
        ForecastPanel panel, ForecastPart part, double[] predicted, double[] actual, int[] series, int season)
    {
        int T = panel.TargetCount, H = panel.Horizon, width = T * H;
        var offsets = new int[panel.Series.Count + 1];
        for (int s = 0; s < panel.Series.Count; s++) offsets[s + 1] = offsets[s] + panel.Range(s, part).Count;
        bool whole = series.Length == panel.Series.Count;
        double[] Pick(double[] values, int[] which) => whole ? values
            : which.SelectMany(s => values.Skip(offsets[s] * width).Take((offsets[s + 1] - offsets[s]) * width)).ToArray();
        var p = Pick(predicted, series);
        var a = Pick(actual, series);
        int windows = a.Length / width;
        var perTarget = new Dictionary<string, double>[T];
        for (int k = 0; k < T; k++)
        {
            var pk = Slice(p, windows, T, H, k);
            var ak = Slice(a, windows, T, H, k);
            double mase = 0;
            foreach (int s in series)
            {
                int n = offsets[s + 1] - offsets[s];
                if (n == 0) continue;
                var training = panel.Series[s].TrainingRowsOf(k);
                // MASE needs more training rows than one season; without them it is reported as null.
                double seriesMase = training.Length > season
                    ? ForecastMetrics.Mase(Slice(predicted, offsets[s], n, T, H, k), Slice(actual, offsets[s], n, T, H, k), training, season)
                    : double.NaN;
                mase += (double)(n * H) / ak.Length * seriesMase;
            }
            perTarget[k] = new Dictionary<string, double>
            {
                ["rmse"] = ForecastMetrics.Rmse(pk, ak),
                ["mae"] = ForecastMetrics.Mae(pk, ak),
                ["mape"] = ForecastMetrics.Mape(pk, ak),
                ["mase"] = mase,
            };
        }
        if (T == 1) return (perTarget[0], perTarget);
        var overall = new Dictionary<string, double>
        {
            ["rmse"] = ForecastMetrics.Rmse(p, a),
            ["mae"] = ForecastMetrics.Mae(p, a),
            ["mape"] = ForecastMetrics.Mape(p, a),
            ["mase"] = perTarget.Average(m => m["mase"]),
        };
        return (overall, perTarget);
    }

    /// <summary>Target <paramref name="target"/>'s values [N, H] out of [N, T·H] values.</summary>
    private static double[] Slice(double[] values, int windows, int targets, int horizon, int target) => Slice(values, 0, windows, targets, horizon, target);

    /// <summary>Target <paramref name="target"/>'s values [N, H] of windows [first, first+windows) out of [·, T·H] values.</summary>
    private static double[] Slice(double[] values, int first, int windows, int targets, int horizon, int target)
    {
        var result = new double[windows * horizon];
        for (int n = 0; n < windows; n++)
            Array.Copy(values, ((first + n) * targets + target) * horizon, result, n * horizon, horizon);
        return result;
    }

    private static double[] PerTargetRmse(double[] predicted, double[] actual, int windows, int targets, int horizon) =>
        Enumerable.Range(0, targets).Select(k => ForecastMetrics.Rmse(Slice(predicted, windows, targets, horizon, k), Slice(actual, windows, targets, horizon, k))).ToArray();

    private static ForecastState ReadState(ModelFile file)
    {
        try
        {
            var state = JsonSerializer.Deserialize<ForecastState>(file.DataState);
            if (state is null || state.Task != "forecast") throw new ModelFileException(file.Path, "is not a forecaster.");
            if (state.Scaling is null || state.Target is null)
                throw new ModelFileException(file.Path, "has a forecasting state without its target or scaling.");
            var targets = state.AllTargets;
            var scalings = state.AllScalings;
            if (state.Lookback < 1 || state.Stride < 1 || state.Horizon < 1 || state.Horizon * targets.Length != file.Model.Spec.OutputSize || state.Season < 1
                || scalings.Length != targets.Length || targets[0] != state.Target
                || scalings.Any(s => s is null || !ForecastScaling.Modes.Contains(s.Mode) || !double.IsFinite(s.Scale) || !(s.StepScale > 0)))
                throw new ModelFileException(file.Path, "has a forecasting state that does not fit its model (lookback, horizon, targets, season or scaling).");
            if (state.Stateful != file.Model.Spec.Stateful || (state.Stateful && (state.Bptt < 1 || scalings.Any(s => s.Mode != "global"))) || (!state.Stateful && file.Model.Spec.PerStep))
                throw new ModelFileException(file.Path, "has a forecasting state that does not fit its model (stateful flag, window or scaling).");
            return state;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }

    private static (ForecastState, ForecastPanel) Read(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        return (state, Windows(state, table));
    }

    /// <summary>The windows of every series of a file, read and split the way <paramref name="state"/> says (as at training).</summary>
    public static ForecastPanel Windows(ForecastState state, CsvTable table)
    {
        var (plan, series, featureScaling) = ReadScaled(table, state);
        return Panel(table, plan, series, state.Lookback, state.Horizon, state.Stride, featureScaling);
    }

    /// <summary>The target columns: <c>--target</c> (repeatable, or a comma list), else the last column whose first value is a number.</summary>
    private static string[] ResolveTargets(TrainConfig config, CsvTable table, TextWriter log, string? timeColumn, string? idColumn)
    {
        var requested = (config.Target ?? []).SelectMany(t => t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToArray();
        if (requested.Length > 0)
        {
            var names = requested.Select(name => table.ColumnNames[table.ColumnIndex(name)]).ToArray();
            if (names.FirstOrDefault(n => names.Count(m => m == n) > 1) is string twice)
                throw new InvalidInputException($"--target: column '{twice}' is named twice; expected each target once.");
            return names;
        }
        // The usual layout has time columns first and the value last: take the last column whose first cell is a
        // number. A later bad cell in that column is then reported with its line, not silently skipped.
        var skip = (timeColumn?.Split(',') ?? []).Append(idColumn).Where(c => c is not null).Select(c => table.ColumnIndex(c!)).ToHashSet();
        for (int c = table.ColumnCount - 1; c >= 0; c--)
        {
            if (skip.Contains(c) || table.RowCount == 0
                || !double.TryParse(table.Cell(0, c), NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                continue;
            log.WriteLine($"target: column '{table.ColumnNames[c]}' (the last numeric column; choose another with --target)");
            return [table.ColumnNames[c]];
        }
        throw new InvalidInputException($"{table.Source}: no column starts with a number to forecast; name the target with --target.");
    }

    /// <summary>Where a series is, for messages: the file, and with an id column the series' id.</summary>
    private static string Where(CsvTable table, ColumnPlan plan, string? id) => id is null ? table.Source : $"{table.Source}, {plan.IdColumn} '{id}'";

    /// <summary>The data rows of each series: all rows, or grouped by the id column (first appearance order; file order within).</summary>
    private static List<(string? Id, int[] Rows)> Groups(CsvTable table, string? idColumn)
    {
        if (idColumn is null) return [(null, Enumerable.Range(0, table.RowCount).ToArray())];
        int column = table.ColumnIndex(idColumn);
        var ids = table.Text(column);
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int r = 0; r < ids.Length; r++)
        {
            string id = ids[r].Trim();
            if (id.Length == 0)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{idColumn}': expected a series id but the cell is empty.");
            if (!groups.TryGetValue(id, out var rows))
            {
                groups[id] = rows = [];
                order.Add(id);
            }
            rows.Add(r);
        }
        return order.Select(id => ((string?)id, groups[id].ToArray())).ToList();
    }

    /// <summary>
    /// Every series' target and feature columns as numbers, missing values treated by the policy within each series;
    /// "drop" removes a row when any of its columns is missing, so the columns stay aligned.
    /// </summary>
    private static List<SeriesColumns> ReadSeries(CsvTable table, ColumnPlan plan, TimeColumns? time)
    {
        var names = plan.Targets.Concat(plan.Features).ToArray();
        bool calendar = names.Any(n => n.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal));
        if (calendar && time is null) throw new InvalidInputException($"{table.Source}: calendar features need a time column.");
        var groups = Groups(table, plan.IdColumn);
        time?.CheckOrder(table, groups.Select(g => g.Rows), plan.IdColumn);
        double[] Read(string name, bool allowMissing) => name.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal)
            ? CalendarFeatures.Compute(name, time!.Times)
            : table.Numeric(table.ColumnIndex(name), allowMissing);
        bool strict = plan.Missing == "error";
        var columns = names.Select(n => Read(n, !strict)).ToArray();
        int T = plan.Targets.Length;
        var result = new List<SeriesColumns>();
        foreach (var (id, rows) in groups)
        {
            string where = Where(table, plan, id);
            int[] kept = rows;
            double[][] values;
            if (strict) values = columns.Select(c => Pick(c, rows)).ToArray();
            else if (plan.Missing == "drop")
            {
                kept = rows.Where(r => columns.All(c => double.IsFinite(c[r]))).ToArray();
                if (kept.Length == 0) throw new InvalidInputException($"{where}: every row has a missing value.");
                values = columns.Select(c => Pick(c, kept)).ToArray();
            }
            else values = columns.Select((c, i) => MissingValues.Apply(Pick(c, rows), plan.Missing, $"{where}, column '{names[i]}'")).ToArray();
            result.Add(new SeriesColumns(id, kept, values[..T], values[T..]));
        }
        return result;

        static double[] Pick(double[] column, int[] rows) => rows.Select(r => column[r]).ToArray();
    }

    /// <summary>Windows over every series: with an id column each series needs one window per part (its error names the id).</summary>
    private static ForecastPanel Panel(CsvTable table, ColumnPlan plan, List<SeriesColumns> series, int lookback, int horizon, int stride, FeatureScaling[]? featureScaling)
    {
        var windows = series.Select(s => new ForecastWindows(s.Targets, lookback, horizon, Where(table, plan, s.Id),
            minimumWindows: plan.IdColumn is null ? ForecastWindows.MinimumWindows : 3,
            covariates: featureScaling is null ? null : Scale(s.Features, featureScaling), stride: stride)).ToArray();
        var panel = new ForecastPanel(windows, series.Select(s => s.Id).ToArray(), series.Select(s => s.Rows).ToArray());
        int total = panel.Count(ForecastPart.All);
        if (plan.IdColumn is not null && total < ForecastWindows.MinimumWindows)
            throw new InvalidInputException($"{table.Source}: {series.Count} series ('{plan.IdColumn}') give {total} windows of lookback {lookback} + horizon {horizon}; " +
                                            $"need at least {ForecastWindows.MinimumWindows}: use more data or a shorter lookback, horizon or stride.");
        return panel;
    }

    /// <summary>A saved forecaster's series (targets and raw features) and feature scaling from a file, read as at training.</summary>
    private static (ColumnPlan plan, List<SeriesColumns> series, FeatureScaling[] features) ReadScaled(CsvTable table, ForecastState state)
    {
        var plan = new ColumnPlan(state.AllTargets, state.Features.Select(f => f.Column).ToArray(), MissingValues.Check(state.Missing), state.TimeColumn, state.IdColumn);
        if (plan.IdColumn is not null) table.ColumnIndex(plan.IdColumn);
        bool calendar = plan.Features.Any(n => n.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal));
        TimeColumns? time = plan.TimeColumn is string tc && (calendar || tc.Contains(',')) ? TimeColumns.Parse(table, tc) : null;
        return (plan, ReadSeries(table, plan, time), state.Features);
    }

    private static FeatureScaling Standardise(string column, ReadOnlySpan<double> trainingRows, string scaler)
    {
        var (center, scale) = Scaler.Fit(scaler, trainingRows);
        return new FeatureScaling(column, center, scale);
    }

    private static double[][] Scale(double[][] raw, FeatureScaling[] scaling) =>
        raw.Select((column, k) => column.Select(v => (v - scaling[k].Center) / scaling[k].Scale).ToArray()).ToArray();

    private static int ResolveSeason(TrainConfig config, CsvTable table, List<SeriesColumns> series, TimeColumns? time, TextWriter log)
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
        if (time?.PeriodsPerYear is int perYear)
        {
            log.WriteLine($"season: {perYear} steps (periods per year of the time columns {string.Join(",", time.Columns)}; set --season to override)");
            return perYear;
        }
        // Detect on the first 70% of each series only: the season must not be learned from the test part. Several
        // series: the period most of them show (the shorter on a tie).
        var detected = series.Select(s => SeasonDetector.Detect(s.Targets[0].AsSpan(0, (int)(s.Targets[0].Length * (1 - ForecastWindows.TestFraction - ForecastWindows.ValidationFraction)))))
            .GroupBy(p => p).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        log.WriteLine(detected > 1
            ? $"season: {detected} steps (detected by autocorrelation{(series.Count > 1 ? $", the most common among {series.Count} series" : "")}; set --season to override)"
            : "season: none detected (seasonal naive equals naive; set --season or --period-column if the series has one)");
        return detected;
    }

    /// <summary>Two seasons (at least 12 steps), capped so at least half the rows still start training windows.</summary>
    internal static SequenceModelSpec Spec(TrainConfig c, int outputs) => WorkflowOptions.Stack(new()
    {
        Cell = RecurrentLayers.ParseCell(c.Cell!), InputSize = 1, HiddenSize = c.Hidden!.Value,
        Layers = c.Layers!.Value, Dropout = c.Dropout!.Value, OutputSize = outputs,
    }, c);
}
