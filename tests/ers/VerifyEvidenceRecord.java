// An independent check of an RFC 4998 evidence record with Bouncy Castle's ERS classes
// (Debian: libbcprov-java, libbcpkix-java). Run in source-file mode:
//   java -cp /usr/share/java/bcprov.jar:/usr/share/java/bcpkix.jar:/usr/share/java/bcutil.jar \
//        VerifyEvidenceRecord.java RECORD.ers DOCUMENT TSA-CERT.pem
// Prints "OK <digest algorithm OID>" and exits 0 if the record covers the document's bytes and its time
// stamp is signed by that certificate; otherwise prints the reason and exits 1.
import java.io.FileReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Security;
import java.util.Date;

import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.ers.ERSByteData;
import org.bouncycastle.tsp.ers.ERSEvidenceRecord;

public class VerifyEvidenceRecord {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        byte[] record = Files.readAllBytes(Path.of(args[0]));
        byte[] document = Files.readAllBytes(Path.of(args[1]));
        X509CertificateHolder tsa;
        try (PEMParser pem = new PEMParser(new FileReader(args[2]))) {
            tsa = (X509CertificateHolder) pem.readObject();
        }
        DigestCalculatorProvider digests = new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
        try {
            ERSEvidenceRecord ers = new ERSEvidenceRecord(record, digests);
            // RFC 4998 §4.3: the document's hash is in the first list of the reduced hash tree,
            // the tree's root is the time stamp's imprint, and the stamp is not in the future.
            ers.validatePresent(new ERSByteData(document), new Date());
            // The time stamp's signature, by this certificate (valid at its time, time-stamping usage).
            ers.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(tsa));
            System.out.println("OK " + ers.toASN1Structure().getDigestAlgorithms()[0].getAlgorithm());
        } catch (Exception e) {
            System.out.println("FAILED " + e);
            System.exit(1);
        }
    }
}
