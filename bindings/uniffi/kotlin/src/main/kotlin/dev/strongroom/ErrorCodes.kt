package dev.strongroom

/**
 * The stable error code of a [KmsException], exactly as every other
 * language sees it (`KMSInvalidStateException`, `NotFoundException`, ...).
 * Kotlin's naming turns the `KMS` prefix of three class names into `Kms`;
 * the code keeps the core's spelling.
 */
val KmsException.code: String
    get() {
        val name = this.javaClass.simpleName
        return errorCodes().firstOrNull { it.equals(name, ignoreCase = true) } ?: name
    }
