using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Training;

namespace Recur.Tests.Serialization;

/// <summary>A model file whose architecture this build cannot fully read is refused, never half-built.</summary>
public class ModelFileKeysTests
{
    [Fact]
    public void AnUnknownArchitectureKeyIsRefusedNamingIt()
    {
        using var dir = new Cli.TempDirectory();
        var model = new SequenceModel(new SequenceModelSpec { HiddenSize = 4 }, new RecurRandom(1));
        string path = dir.File("model.safetensors");
        new ModelFile(model, new TrainConfig { Task = "forecast" }, "{}", "{}").Save(path);
        Assert.Equal(4, ModelFile.Load(path).Model.Spec.HiddenSize); // the file as written loads

        var content = SafeTensors.Read(path);
        var metadata = content.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        metadata["recur.model"] = metadata["recur.model"].TrimEnd('}') + ",\"time_warp\":\"true\"}";
        SafeTensors.Write(path, content.Tensors, metadata);
        var e = Assert.ThrowsAny<InvalidInputException>(() => ModelFile.Load(path));
        Assert.Contains("'time_warp'", e.Message);
        Assert.Contains("newer recur", e.Message);
    }
}
